// The long-running parts: `start` (everything on this machine), `worker`, `connector`, `monitor`.
import { ConfigError, localDefaults, type AppConfig } from '../../config/env.js';
import { sourceNames, type SourceName } from '../../domain/room.js';
import type { Logger } from '../../observability/logger.js';
import { loadPolicy } from '../../policy/load.js';
import { createMetrics } from '../../observability/metrics.js';
import { prepareEnvironment, usesLocalServer } from '../../app/environment.js';
import { Resources } from '../../app/resources.js';
import type { Connector } from '../../cdc/connector.js';
import { startConnector, startWorker } from '../../app/components.js';
import { formatStatusLine, readPipelineCounts } from '../../app/status.js';
import { ensureLagMonitor, monitorSettingsFromConfig } from '../../app/lag-monitor.js';
import { ensureReconcileSchedule } from '../../app/reconcile-schedule.js';
import { channelsFromConfig } from '../../monitoring/channels.js';
import { seedDemo } from '../../demo/seed.js';
import { PartnerTrafficSimulator } from '../../demo/simulator.js';
import { retireRoomGroupWorkflows } from '../../app/retire-room-groups.js';
import { examples, type CommandGroup } from '../context.js';
import { logRetries, untilSignal } from '../lifecycle.js';

/** The contract's defaults on this machine: the demo may seed and simulate there, nowhere else. */
function isLocalDemo(config: AppConfig): boolean {
  return (
    usesLocalServer(config) &&
    config.LEGACY_DATABASE_URL === localDefaults.LEGACY_DATABASE_URL &&
    config.CLOUD_DATABASE_URL === localDefaults.CLOUD_DATABASE_URL &&
    config.UNIFIED_DATABASE_URL === localDefaults.UNIFIED_DATABASE_URL
  );
}

export function demoChangesPerSecond(): number {
  return Number(process.env['DEMO_CHANGES_PER_SECOND'] ?? 6);
}

async function commandStart(config: AppConfig, demoWanted: boolean, log: Logger): Promise<void> {
  const demo = demoWanted && isLocalDemo(config);
  const policy = await loadPolicy(config.POLICY_FILE);
  const prepared = await prepareEnvironment(config, { createSources: demo, startTemporal: true }, log);
  const resources = new Resources(config, logRetries(log));
  const metrics = createMetrics();
  const worker = await startWorker(resources, policy, metrics, log.child('worker'));
  await retireRoomGroupWorkflows(await resources.client(), log);
  let simulator: PartnerTrafficSimulator | null = null;
  if (demo) {
    const seeded = await seedDemo(resources.partnerPool('legacy'), resources.partnerPool('cloud'));
    if (seeded > 0) log.info('seeded demo hotels', { rooms: seeded });
  }
  const connectors: Connector[] = [];
  for (const source of sourceNames) connectors.push(await startConnector(resources, source, log.child('connector')));
  if (demo) {
    simulator = new PartnerTrafficSimulator(resources.partnerPool('legacy'), resources.partnerPool('cloud'), {
      changesPerSecond: demoChangesPerSecond(),
      badRowEvery: 150,
      log: log.child('simulator'),
    });
    simulator.start();
  }

  let lastApplied = 0;
  let lastAt = Date.now();
  const printStatus = async () => {
    try {
      const applied = (await metrics.changesApplied.get()).values[0]?.value ?? 0;
      const now = Date.now();
      const rate = ((applied - lastApplied) * 1000) / Math.max(1, now - lastAt);
      lastApplied = applied;
      lastAt = now;
      const counts = await readPipelineCounts(resources.unified());
      process.stdout.write(`[room-sync] ${formatStatusLine(counts, rate, config.TEMPORAL_UI_URL)}\n`);
    } catch (error) {
      log.warn('status unavailable', { error });
    }
  };
  const statusTimer = setInterval(() => void printStatus(), config.STATUS_INTERVAL_MS);
  log.info('room-sync is running; Ctrl-C stops it', { temporalUi: config.TEMPORAL_UI_URL, demo });

  await untilSignal(log, async () => {
    clearInterval(statusTimer);
    await simulator?.stop();
    for (const connector of connectors) await connector.stop();
    await worker.stop();
    await resources.close();
    await prepared.stopTemporal();
    log.info('stopped cleanly');
  });
}

async function commandWorker(config: AppConfig, only: string | undefined, log: Logger): Promise<void> {
  if (only !== undefined && only !== 'rooms' && only !== 'monitor') throw new ConfigError('worker --only takes rooms or monitor');
  const policy = await loadPolicy(config.POLICY_FILE);
  const resources = new Resources(config);
  const worker = await startWorker(resources, policy, createMetrics(), log, only === undefined ? ['rooms', 'monitor'] : [only]);
  await Promise.race([
    worker.done,
    untilSignal(log, async () => {
      await worker.stop();
    }),
  ]);
  await resources.close();
}

async function commandConnector(config: AppConfig, source: SourceName, log: Logger): Promise<void> {
  const resources = new Resources(config, logRetries(log));
  const connector = await startConnector(resources, source, log);
  await untilSignal(log, async () => {
    await connector.stop();
  });
  await resources.close();
}

export const registerRunCommands: CommandGroup = (program, context) => {
  program
    .command('start')
    .description('everything on this machine, as `npm start`; Ctrl-C stops it')
    .option('--no-demo', 'no demo hotels or partner traffic (also DEMO=0)')
    .addHelpText(
      'after',
      '\nSet-up, a Temporal dev server unless one answers on TEMPORAL_ADDRESS, the worker and both connectors;\n' +
        'on the local default databases also demo hotels and partner traffic.\n' +
        examples('npm start', 'room-sync start --no-demo'),
    )
    .action(async (options: { demo: boolean }) => {
      await commandStart(context.config(), options.demo && process.env['DEMO'] !== '0', context.log);
    });

  program
    .command('worker')
    .description('the room and lag-monitor workers (Temporal), /metrics')
    .option('--only <role>', 'one of them: rooms | monitor')
    .addHelpText('after', examples('room-sync worker', 'room-sync worker --only rooms'))
    .action(async (options: { only?: string }) => {
      await commandWorker(context.config(), options.only, context.log.child('worker'));
    });

  program
    .command('connector')
    .description('one CDC connector (its slot is its lock: one per source)')
    .option('--source <source>', 'legacy | cloud')
    .addHelpText('after', examples('room-sync connector --source legacy'))
    .action(async (options: { source?: string }) => {
      const config = context.config();
      const source = options.source;
      if (source !== 'legacy' && source !== 'cloud') throw new ConfigError('connector needs --source legacy or --source cloud');
      await commandConnector(config, source, context.log.child(`connector.${source}`));
    });

  program
    .command('monitor')
    .description('start the lag monitor, or hand it new thresholds')
    .addHelpText('after', examples('LAG_PAGE_SECONDS=120 room-sync monitor'))
    .action(async () => {
      const config = context.config();
      const resources = new Resources(config);
      try {
        await ensureLagMonitor(await resources.client(), config.TEMPORAL_TASK_QUEUE, monitorSettingsFromConfig(config));
        context.log.info('lag monitor running with the current settings', { settings: monitorSettingsFromConfig(config) });
        const schedule = await ensureReconcileSchedule(await resources.client(), config.TEMPORAL_TASK_QUEUE, {
          cron: config.RECONCILE_SCHEDULE,
          channelNames: channelsFromConfig(config).map((channel) => channel.name),
        });
        context.log.info('reconcile schedule', { schedule, cron: config.RECONCILE_SCHEDULE });
      } finally {
        await resources.close();
      }
    });
};
