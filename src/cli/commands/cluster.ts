// `cluster start|stop|status`: a real multi-process Temporal cluster on this machine (src/cluster).
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../../config/env.js';
import { clusterStatus, startCluster, stopCluster } from '../../cluster/cluster.js';
import { adminUrlFor } from '../../setup/postgres.js';
import { projectRoot } from '../../setup/source-schemas.js';
import { parseAddress } from '../../setup/temporal.js';
import { examples, type CommandGroup } from '../context.js';

const defaultDataDir = join('.data', 'cluster');

function dataDirOf(option: string): string {
  return isAbsolute(option) ? option : join(projectRoot, option);
}

function portOption(name: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError(`--${name} must be a port number (0 for any free one), not ${JSON.stringify(value)}`);
  return port;
}

function countOption(name: string, value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new ConfigError(`--${name} must be a whole number from 1 to 64, not ${JSON.stringify(value)}`);
  return count;
}

export const registerClusterCommands: CommandGroup = (program, context) => {
  const cluster = program
    .command('cluster')
    .description('a local Temporal cluster: frontend, matching, worker service and two history hosts, each its own process, on Postgres');

  cluster
    .command('start')
    .description('build the server once, set up its databases, start every process and register the namespace and search attributes')
    .option('--data-dir <dir>', 'config, logs and pid files', defaultDataDir)
    .option('--frontend-port <port>', "the frontend's gRPC port (default: TEMPORAL_ADDRESS's; 0 for any free one)")
    .option('--ui-port <port>', "the Temporal UI's port (default: TEMPORAL_UI_URL's; 0 for any free one)")
    .option('--database-prefix <prefix>', 'names the databases <prefix>temporal and <prefix>temporal_visibility', '')
    .option('--no-ui', 'no Temporal UI server')
    .option('--persistence-connections <n>', 'Postgres connections each history host keeps open, the other services half (default 8: 42 in all; fewer on a Postgres shared with much else)')
    .option('--tls', 'the frontend serves mutual TLS: certificates of a CA of its own made in <data dir>/tls (kept for later starts)')
    .addHelpText(
      'after',
      '\nThe databases go on the Postgres server of UNIFIED_DATABASE_URL, as that URL\'s user. Ports are chosen at the\n' +
        'first start and kept in <data dir>/cluster.json; starting again starts only what is not running.\n' +
        'The last line printed is the variables that point room-sync at the cluster (with --tls, its TEMPORAL_TLS_* too).\n' +
        examples('room-sync cluster start', 'room-sync cluster start --frontend-port 7300 --ui-port 8300', 'TEMPORAL_ADDRESS=127.0.0.1:7300 npm start', 'room-sync cluster start --tls --data-dir .data/cluster-tls --frontend-port 7400 --ui-port 8400'),
    )
    .action(async (options: { dataDir: string; frontendPort?: string; uiPort?: string; databasePrefix: string; ui: boolean; tls?: boolean; persistenceConnections?: string }) => {
      const config = context.config();
      const say = (message: string) => context.log.info(message);
      const frontendPort = options.frontendPort === undefined ? parseAddress(config.TEMPORAL_ADDRESS).port : portOption('frontend-port', options.frontendPort);
      const uiPort = options.uiPort === undefined ? Number(new URL(config.TEMPORAL_UI_URL).port || 80) : portOption('ui-port', options.uiPort);
      const started = await startCluster({
        projectRoot,
        dataDir: dataDirOf(options.dataDir),
        frontendPort,
        uiPort,
        postgresUrl: adminUrlFor(config.UNIFIED_DATABASE_URL),
        databasePrefix: options.databasePrefix,
        namespace: config.TEMPORAL_NAMESPACE,
        ui: options.ui,
        ...(options.tls === true ? { tls: true } : {}),
        ...(options.persistenceConnections === undefined ? {} : { persistenceConnections: countOption('persistence-connections', options.persistenceConnections) }),
        log: say,
      });
      say(`cluster ready: frontend ${started.address}${started.layout.tls ? ' (mutual TLS)' : ''}${started.uiUrl === null ? '' : `, Temporal UI ${started.uiUrl}`}`);
      process.stdout.write(`${Object.entries(started.environment).map(([name, value]) => `${name}=${value}`).join(' ')}\n`);
    });

  cluster
    .command('status')
    .description('each process: pid, ports, alive (exit code 3 when a Temporal service is down)')
    .option('--data-dir <dir>', 'as given to cluster start', defaultDataDir)
    .addHelpText('after', examples('room-sync cluster status'))
    .action(async (options: { dataDir: string }) => {
      const found = await clusterStatus(projectRoot, dataDirOf(options.dataDir));
      if (found === null) {
        process.stdout.write(`no cluster in ${dataDirOf(options.dataDir)} (room-sync cluster start)\n`);
        context.exitWith(3);
        return;
      }
      const rows = found.members.map((member) => [member.member, member.pid === null ? '-' : String(member.pid), member.ports.join('/'), member.alive ? 'alive' : 'DOWN', member.log]);
      const header = ['process', 'pid', 'ports (gRPC/membership/HTTP)', 'state', 'log'];
      const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
      const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
      const { layout } = found;
      process.stdout.write(
        `${[line(header), ...rows.map(line)].join('\n')}\n` +
          `databases ${layout.databases.main}, ${layout.databases.visibility} on ${layout.postgres.host}:${layout.postgres.port}; namespace ${layout.namespace}` +
          `${layout.tls ? `; frontend serves mutual TLS (certificates in ${join(dataDirOf(options.dataDir), 'tls')})` : ''}\n`,
      );
      if (found.members.some((member) => member.member !== 'ui' && !member.alive)) context.exitWith(3);
    });

  cluster
    .command('stop')
    .description('stop every process (SIGTERM, SIGKILL after 20 s); the databases stay')
    .option('--data-dir <dir>', 'as given to cluster start', defaultDataDir)
    .addHelpText('after', examples('room-sync cluster stop'))
    .action(async (options: { dataDir: string }) => {
      await stopCluster(projectRoot, dataDirOf(options.dataDir), (message) => context.log.info(message));
    });
};
