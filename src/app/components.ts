import { Connector } from '../cdc/connector.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { channelsFromConfig } from '../monitoring/channels.js';
import { metricsUrl, startMetricsServer } from '../observability/metrics-server.js';
import { ensureLagMonitor, monitorSettingsFromConfig } from './lag-monitor.js';
import { ensureReconcileSchedule } from './reconcile-schedule.js';
import { applyWorkerV8Flags } from '../workers/heap-settings.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Policy } from '../policy/schema.js';
import type { RoomSyncWorkers, WorkerRole } from '../workers/worker.js';
import type { Resources } from './resources.js';

export interface RunningWorker {
  readonly worker: RoomSyncWorkers;
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** The sources as the monitor reads them: their slots, through the process's pools (the connector's role). */
export async function monitoredSources(resources: Resources) {
  return Promise.all(
    sourceNames.map(async (source) => ({
      descriptor: await resources.sourceDescriptor(source),
      pool: await resources.sourcePool(source),
    })),
  );
}

export async function startWorker(
  resources: Resources,
  policy: Policy,
  metrics: Metrics,
  log: Logger,
  roles: readonly WorkerRole[] = ['rooms', 'monitor'],
): Promise<RunningWorker> {
  const { config } = resources;
  const metricsServer = config.METRICS_PORT > 0 ? await startMetricsServer(metrics.registry, config.METRICS_PORT, config.METRICS_HOST) : null;
  if (metricsServer) log.info('metrics endpoint', { url: metricsUrl(config.METRICS_HOST, config.METRICS_PORT), listening: config.METRICS_HOST });
  // Before the SDK starts its workflow threads: their heaps are most of the worker's memory.
  applyWorkerV8Flags(config.WORKER_V8_FLAGS);
  if (config.WORKER_V8_FLAGS.length > 0) log.info('worker V8 heap flags', { flags: config.WORKER_V8_FLAGS.join(' ') });
  // Loaded here, not at the top: only the commands that run a worker pay for the SDK's worker module.
  const { createRoomSyncWorker } = await import('../workers/worker.js');
  const worker = await createRoomSyncWorker({
    connection: await resources.workerConnection(),
    namespace: resources.config.TEMPORAL_NAMESPACE,
    taskQueue: resources.config.TEMPORAL_TASK_QUEUE,
    db: resources.unified(),
    policy,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    roles,
    monitoring: { sources: await monitoredSources(resources), channels: channelsFromConfig(config), log: log.child('monitor'), metrics },
    onApplied: (result, durationMs) => {
      metrics.applyBatches.inc();
      metrics.changesApplied.inc(result.applied);
      metrics.changesIgnored.inc(result.ignored);
      metrics.conflicts.inc(result.conflicts);
      metrics.applyLatency.observe(durationMs / 1000);
    },
    onQuarantined: () => metrics.roomsQuarantinedTotal.inc(),
  });
  const done = worker.run();
  log.info('worker running', { taskQueue: config.TEMPORAL_TASK_QUEUE, roles, policy: policy.policyVersion });
  // The monitor worker keeps the lag monitor alive: starting it is idempotent and hands it the current thresholds.
  if (roles.includes('monitor')) {
    await ensureLagMonitor(await resources.client(), config.TEMPORAL_TASK_QUEUE, monitorSettingsFromConfig(config));
    // The reconcile schedule runs on the monitor's queue and alerts through its channels: kept current beside it.
    const schedule = await ensureReconcileSchedule(await resources.client(), config.TEMPORAL_TASK_QUEUE, {
      cron: config.RECONCILE_SCHEDULE,
      channelNames: channelsFromConfig(config).map((channel) => channel.name),
    });
    log.info('reconcile schedule', { schedule: schedule, cron: config.RECONCILE_SCHEDULE });
  }
  return {
    worker,
    done,
    stop: async () => {
      worker.shutdown();
      await done;
      await new Promise((resolve) => (metricsServer ? metricsServer.close(resolve) : resolve(undefined)));
    },
  };
}

export async function startConnector(resources: Resources, source: SourceName, log: Logger): Promise<Connector> {
  const { config } = resources;
  const connector = new Connector({
    descriptor: await resources.sourceDescriptor(source),
    unifiedDb: resources.unified(),
    sourcePool: await resources.sourcePool(source),
    temporal: await resources.client(),
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    maxInFlight: config.CONNECTOR_MAX_IN_FLIGHT,
    maxBatchChanges: config.CONNECTOR_MAX_BATCH_CHANGES,
    maxQueuedChanges: config.CONNECTOR_MAX_QUEUED_CHANGES,
    maxRoomsAwaitingApply: config.CONNECTOR_MAX_ROOMS_AWAITING_APPLY,
    minSendIntervalMs: config.CONNECTOR_SEND_INTERVAL_MS,
    deliveryMode: config.CONNECTOR_DELIVERY,
    heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
    log: log.child(source),
  });
  await connector.start();
  return connector;
}
