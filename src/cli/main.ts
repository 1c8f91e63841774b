import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ConfigError, loadConfig, localDefaults, type AppConfig } from '../config/env.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { loadPolicy, PolicyError } from '../policy/load.js';
import { createMetrics } from '../observability/metrics.js';
import { prepareEnvironment, preparePostgres, prepareSources, usesLocalServer } from '../app/environment.js';
import { Resources } from '../app/resources.js';
import type { RetryObserver } from '../temporal/client-retry.js';
import type { Connector } from '../cdc/connector.js';
import { startConnector, startWorker } from '../app/components.js';
import { formatHealthReport, formatStatusLine, readPipelineCounts, readPipelineHealth } from '../app/status.js';
import { ensureLagMonitor, monitorSettingsFromConfig } from '../app/lag-monitor.js';
import { createUnifiedDb, createPool } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import { seedDemo } from '../demo/seed.js';
import { PartnerTrafficSimulator } from '../demo/simulator.js';
import { adminUrlFor, dropDatabasesWithPrefix } from '../setup/postgres.js';
import { ensureTemporalCli } from '../setup/temporal.js';
import { ensureChromium } from '../setup/chromium.js';
import { commandReplay } from './replay-command.js';
import { formatRoomLookup, lookUpRoom, parseRoomKey } from '../app/room-lookup.js';
import { retireRoomGroupWorkflows } from '../app/retire-room-groups.js';
import { retryRoomDeadLetters, roomsWithOpenDeadLetters } from '../app/dead-letter-retry.js';

/** Test suites create their databases with this prefix (test/support/environment.ts). */
const testDatabasePrefix = 'rs_test_';
import { projectRoot } from '../setup/source-schemas.js';

const usage = `room-sync: keeps the legacy and cloud inventories in one unified, audited view

usage: room-sync <command> [options]

  start                     everything on this machine: set-up, Temporal dev server if none answers,
                            worker, both connectors; with the local default databases also demo
                            hotels and partner traffic (--no-demo to skip). Ctrl-C stops it all.
  worker [--only rooms|monitor]
                            the Temporal workers: room workflows (apply, quarantine) on TEMPORAL_TASK_QUEUE,
                            the lag monitor on TEMPORAL_TASK_QUEUE-monitor; both unless --only
  connector --source S      one CDC connector, S = legacy | cloud
  sources prepare           publication, REPLICA IDENTITY FULL and heartbeat table on both sources
  migrate                   bring the unified schema up to date
  setup [--tests]           make Postgres ready for logical replication and build the Temporal CLI
  monitor                   start the lag monitor workflow (or hand it new thresholds)
  status                    per-source lag, backlog, alerts and what is sellable; exit 3 while paging
  room HOTEL/ROOM           which workflow serializes the room (UI link), its unified row and newest audit rows
  replay --room HOTEL/ROOM  replay every run of the room's workflow against the current code (--run-id RUN: one run;
                            --workflow-id ID: any workflow; --file F: an exported history); exit 1 if any diverges
  dead-letters retry [--room HOTEL/ROOM]
                            deliver a room's dead-lettered changes again (after a fix); waits until applied
  seed | simulate           the demo's hotels / partner traffic alone

Configuration is read from the environment: LEGACY_DATABASE_URL, CLOUD_DATABASE_URL,
UNIFIED_DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, POLICY_FILE, ...
(see README.md).`;

/** Runs until SIGINT/SIGTERM, then stops the parts in order; a second signal exits at once. */
async function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal: exiting without a clean stop', { signal });
        process.exit(130);
      }
      stopping = true;
      log.info('stopping (Ctrl-C again to force)', { signal });
      stop().then(resolve, (error: unknown) => {
        log.error('stop failed', { error });
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Retried Temporal calls at debug level: a busy workflow or a server restart, retried in milliseconds to seconds. */
function logRetries(log: Logger): RetryObserver {
  return (attempt, status, delayMs) => log.debug('Temporal call retried', { attempt, code: status.code, details: status.details, delayMs: Math.round(delayMs) });
}

/** The contract's defaults on this machine: the demo may seed and simulate there, nowhere else. */
function isLocalDemo(config: AppConfig): boolean {
  return (
    usesLocalServer(config) &&
    config.LEGACY_DATABASE_URL === localDefaults.LEGACY_DATABASE_URL &&
    config.CLOUD_DATABASE_URL === localDefaults.CLOUD_DATABASE_URL &&
    config.UNIFIED_DATABASE_URL === localDefaults.UNIFIED_DATABASE_URL
  );
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
    const seeded = await seedDemo(resources.sourcePool('legacy'), resources.sourcePool('cloud'));
    if (seeded > 0) log.info('seeded demo hotels', { rooms: seeded });
  }
  const connectors: Connector[] = [];
  for (const source of sourceNames) connectors.push(await startConnector(resources, source, log.child('connector')));
  if (demo) {
    simulator = new PartnerTrafficSimulator(resources.sourcePool('legacy'), resources.sourcePool('cloud'), {
      changesPerSecond: Number(process.env['DEMO_CHANGES_PER_SECOND'] ?? 6),
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

async function commandMigrate(config: AppConfig, log: Logger): Promise<void> {
  const db = createUnifiedDb(createPool(config.UNIFIED_DATABASE_URL, { maxConnections: 1 }));
  try {
    const applied = await migrateToLatest(db);
    log.info(applied.length > 0 ? 'migrated' : 'unified schema already up to date', { applied });
  } finally {
    await db.destroy();
  }
}

/** Exit code 3 while any source is paging or a room is quarantined, so scripts and probes can act on it. */
async function commandStatus(config: AppConfig): Promise<number> {
  const db = createUnifiedDb(createPool(config.UNIFIED_DATABASE_URL, { maxConnections: 1 }));
  try {
    const counts = await readPipelineCounts(db);
    const health = await readPipelineHealth(db);
    process.stdout.write(`${formatHealthReport(counts, health)}\n`);
    // A quarantined room pages too: ops act on it just the same.
    return health.sources.some((source) => source.alert === 'page') || counts.quarantined.length > 0 ? 3 : 0;
  } finally {
    await db.destroy();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      room: { type: 'string' },
      only: { type: 'string' },
      'workflow-id': { type: 'string' },
      'run-id': { type: 'string' },
      file: { type: 'string' },
      'no-demo': { type: 'boolean', default: false },
      tests: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command = 'start', subcommand] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = createLogger('room-sync');
  const config = loadConfig();
  // The SDK's own chatter (bundler output, worker state changes) only when something is wrong.
  Runtime.install({ logger: new DefaultLogger(config.LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN') });
  switch (command) {
    case 'start':
      await commandStart(config, !values['no-demo'] && process.env['DEMO'] !== '0', log);
      return 0;
    case 'worker':
      await commandWorker(config, values.only, log.child('worker'));
      return 0;
    case 'connector': {
      const source = values.source;
      if (source !== 'legacy' && source !== 'cloud') throw new ConfigError('connector needs --source legacy or --source cloud');
      await commandConnector(config, source, log.child(`connector.${source}`));
      return 0;
    }
    case 'sources':
      if (subcommand !== 'prepare') throw new ConfigError('usage: room-sync sources prepare');
      await prepareSources(config, log);
      log.info('sources prepared');
      return 0;
    case 'migrate':
      await commandMigrate(config, log);
      return 0;
    case 'setup':
      await preparePostgres(config, log);
      await ensureTemporalCli(projectRoot, (message) => log.info(message));
      if (values.tests) {
        await ensureChromium((message) => log.info(message));
        const dropped = await dropDatabasesWithPrefix(adminUrlFor(config.UNIFIED_DATABASE_URL), testDatabasePrefix);
        if (dropped.length > 0) log.info('dropped databases left by earlier test runs', { dropped });
      } else {
        await commandMigrate(config, log);
      }
      return 0;
    case 'status':
      return commandStatus(config);
    case 'room': {
      const room = parseRoomKey(positionals.slice(1));
      if (room === null) throw new ConfigError('usage: room-sync room HOTEL/ROOM');
      const db = createUnifiedDb(createPool(config.UNIFIED_DATABASE_URL, { maxConnections: 1 }));
      try {
        const lookup = await lookUpRoom(db, room, { url: config.TEMPORAL_UI_URL, namespace: config.TEMPORAL_NAMESPACE });
        process.stdout.write(`${formatRoomLookup(lookup)}\n`);
      } finally {
        await db.destroy();
      }
      return 0;
    }
    case 'replay':
      return commandReplay(config, { room: values.room, workflowId: values['workflow-id'], runId: values['run-id'], file: values.file });
    case 'dead-letters': {
      if (subcommand !== 'retry') throw new ConfigError('usage: room-sync dead-letters retry [--room HOTEL/ROOM]');
      const resources = new Resources(config);
      try {
        const roomArg = values.room;
        const parsedRoom = roomArg === undefined ? null : parseRoomKey([roomArg]);
        if (roomArg !== undefined && parsedRoom === null) throw new ConfigError(`--room: expected HOTEL/ROOM, got ${JSON.stringify(roomArg)}`);
        const rooms = parsedRoom ? [parsedRoom] : await roomsWithOpenDeadLetters(resources.unified());
        if (rooms.length === 0) process.stdout.write('no dead-lettered changes to retry\n');
        let failedAgain = 0;
        for (const room of rooms) {
          const outcome = await retryRoomDeadLetters(resources.unified(), await resources.client(), config.TEMPORAL_TASK_QUEUE, room, {
            onProgress: (message) => process.stderr.write(`${message}\n`),
          });
          failedAgain += outcome.failedAgain;
          process.stdout.write(
            `${outcome.room}: ${outcome.retried} retried, ${outcome.applied} applied, ${outcome.failedAgain} dead-lettered again` +
              (outcome.notMappable > 0 ? `, ${outcome.notMappable} not a change (left as they are)` : '') +
              '\n',
          );
        }
        // Every retried change is settled either way; a change that failed again is in dead_letters with its new error.
        return failedAgain > 0 ? 1 : 0;
      } finally {
        await resources.close();
      }
    }
    case 'monitor': {
      const resources = new Resources(config);
      await ensureLagMonitor(await resources.client(), config.TEMPORAL_TASK_QUEUE, monitorSettingsFromConfig(config));
      log.info('lag monitor running with the current settings', { settings: monitorSettingsFromConfig(config) });
      await resources.close();
      return 0;
    }
    case 'seed': {
      const resources = new Resources(config);
      const rooms = await seedDemo(resources.sourcePool('legacy'), resources.sourcePool('cloud'));
      log.info(rooms > 0 ? 'seeded demo hotels' : 'sources not empty: nothing seeded', { rooms });
      await resources.close();
      return 0;
    }
    case 'simulate': {
      const resources = new Resources(config);
      const simulator = new PartnerTrafficSimulator(resources.sourcePool('legacy'), resources.sourcePool('cloud'), {
        changesPerSecond: Number(process.env['DEMO_CHANGES_PER_SECOND'] ?? 6),
        badRowEvery: 150,
        log,
      });
      simulator.start();
      await untilSignal(log, () => simulator.stop());
      await resources.close();
      return 0;
    }
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof PolicyError) {
      process.stderr.write(`room-sync: ${error.message}\n`);
      process.exit(2);
    }
    const cause = error instanceof Error && error.cause instanceof Error ? `\n  cause: ${error.cause.message}` : '';
    process.stderr.write(`room-sync: ${error instanceof Error ? error.message : String(error)}${cause}\n`);
    process.exit(1);
  },
);
