import { join } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities, type ActivityDependencies } from '../activities/index.js';
import { recordPolicy } from '../db/policy-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { Policy } from '../policy/schema.js';
import { createLogger } from '../observability/logger.js';
import { temporalSdkLogger } from '../observability/temporal-logger.js';
import { projectRoot } from '../setup/source-schemas.js';
import { monitorTaskQueue } from './task-queues.js';
import { cachedWorkflowBundle } from './workflow-bundle.js';

const defaultMaxCachedWorkflows = 2_000;

/**
 * How long a room's task waits on this worker's sticky queue before the server gives it to any
 * worker, which replays the room's whole run. Past saturation tasks queue on the server: with
 * one task per room pending and a few thousand rooms, a task waits rooms / tasks per second
 * (2,000 rooms at 60/s with the load twice that: 16 s and more), so a timeout of 3 s turned
 * an overload into whole-run replays of every room. A killed worker stops polling: the server
 * sends a room's next task to the shared queue once its sticky queue has seen no poll for 10 s
 * (StickyWorkerUnavailable), so only a task already queued to the dead worker waits this long.
 */
export const roomStickyQueueTimeout = '30 seconds';

export const workflowsPath = join(projectRoot, 'src', 'workflows', 'index.ts');

/** Our sources import siblings as `./x.js` (NodeNext); webpack must find the `.ts` behind them. */
const extensionAlias = { '.js': ['.ts', '.js'] };

/**
 * Loaded once into the worker's shared V8 context instead of once per cached workflow: the SDK's
 * workflow API and our workflow modules (they keep no module-level state). 2,000 cached room
 * workflows each evaluated them again: about 34 KB of heap per workflow (docs in the memory report).
 */
const preloadModules = ['@temporalio/workflow', workflowsPath];

export const bundlerOptions = {
  webpackConfigHook: (config: Parameters<NonNullable<NonNullable<Parameters<typeof bundleWorkflowCode>[0]['webpackConfigHook']>>>[0]) => {
    config.resolve = { ...config.resolve, extensionAlias };
    return config;
  },
  preloadModules,
};

// webpack's progress is noise; its warnings and errors go through our logger like the SDK's own lines.
const quietBundlerLogger = temporalSdkLogger(createLogger('workflow-bundler'), 'WARN');

/**
 * Bundles the workflow code once (in a child process, see workflow-bundle.ts); workers, tests and
 * the bench reuse it. Kept in WORKFLOW_BUNDLE_CACHE (default `.data/workflow-bundles` in the
 * project; `off` bundles every time), keyed by the content of every source file and the lockfile.
 */
export async function bundleRoomSyncWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  const setting = process.env['WORKFLOW_BUNDLE_CACHE'];
  const dir = setting === 'off' ? null : (setting ?? join(projectRoot, '.data', 'workflow-bundles'));
  return cachedWorkflowBundle(
    { workflowsPath, preloadModules, extensionAlias },
    { dir, sourceRoot: join(projectRoot, 'src'), lockfile: join(projectRoot, 'package-lock.json') },
    quietBundlerLogger,
  );
}


export interface RoomSyncWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly db: Kysely<UnifiedDatabase>;
  readonly policy: Policy;
  readonly onApplied?: ActivityDependencies['onApplied'];
  readonly onQuarantined?: ActivityDependencies['onQuarantined'];
  readonly monitoring: ActivityDependencies['monitoring'];
  readonly workflowBundle?: WorkflowBundleWithSourceMap;
  /** Room workflows kept in memory; the rest are replayed from history when they next get a signal. */
  readonly maxCachedWorkflows?: number;
}

export type WorkerRole = 'rooms' | 'monitor';

/**
 * The room workers and the monitor worker of one process. They poll different task queues,
 * so a process may run either or both (`room-sync worker --only rooms|monitor`).
 */
export class RoomSyncWorkers {
  constructor(readonly workers: ReadonlyMap<WorkerRole, Worker>) {}

  run(): Promise<void> {
    return Promise.all([...this.workers.values()].map((worker) => worker.run())).then(() => undefined);
  }

  shutdown(): void {
    for (const worker of this.workers.values()) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  getState(): ReturnType<Worker['getState']> {
    const states = [...this.workers.values()].map((worker) => worker.getState());
    return states.find((state) => state !== 'RUNNING') ?? 'RUNNING';
  }
}

/**
 * Room workflows (with the apply and quarantine activities) on `taskQueue`; the lag
 * monitor (with the source checks and alert deliveries) on `monitorTaskQueue(taskQueue)`.
 */
export async function createRoomSyncWorker(options: RoomSyncWorkerOptions & { readonly roles?: readonly WorkerRole[] }): Promise<RoomSyncWorkers> {
  const activities = createActivities({
    db: options.db,
    policy: options.policy,
    monitoring: options.monitoring,
    ...(options.onApplied ? { onApplied: options.onApplied } : {}),
    ...(options.onQuarantined ? { onQuarantined: options.onQuarantined } : {}),
  });
  // One bundle for both workers of the process (each Worker.create would otherwise run webpack again).
  const code = { workflowBundle: options.workflowBundle ?? (await bundleRoomSyncWorkflows()) };
  const roles = options.roles ?? ['rooms', 'monitor'];
  const workers = new Map<WorkerRole, Worker>();
  if (roles.includes('rooms')) {
    await recordFilePolicy(options);
    const { applyRoomChanges, quarantineRoomChanges, reResolveBatch } = activities;
    workers.set(
      'rooms',
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: options.taskQueue,
        // Re-resolutions of a newly applied policy run beside the rooms they signal.
        activities: { applyRoomChanges, quarantineRoomChanges, reResolveBatch },
        ...code,
        maxCachedWorkflows: options.maxCachedWorkflows ?? defaultMaxCachedWorkflows,
        stickyQueueScheduleToStartTimeout: roomStickyQueueTimeout,
      }),
    );
  }
  if (roles.includes('monitor')) {
    const { checkSources, recordAlertEvent, enqueueAlert, deliverAlert, reconcileSources } = activities;
    workers.set(
      'monitor',
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: monitorTaskQueue(options.taskQueue),
        // The lag monitor and, beside it, one alert outbox workflow per channel (enqueueAlert feeds them, deliverAlert sends);
        // the scheduled reconcile, which alerts through the same path.
        activities: { checkSources, recordAlertEvent, enqueueAlert, deliverAlert, reconcileSources },
        ...code,
        maxCachedWorkflows: 10,
      }),
    );
  }
  return new RoomSyncWorkers(workers);
}

/**
 * POLICY_FILE becomes the first recorded policy where none is; after that the active
 * policy is policy_versions' newest row, changed with `room-sync policy apply`.
 */
async function recordFilePolicy(options: RoomSyncWorkerOptions): Promise<void> {
  const { record, recorded } = await recordPolicy(
    options.db,
    { policy: options.policy, sourceFile: null, appliedBy: 'room-sync worker (POLICY_FILE, first start)' },
    { onlyIfNone: true },
  );
  if (recorded) options.monitoring.log.info('recorded POLICY_FILE as the active policy', { policy: record.version, activation: record.id });
  else if (record.version !== options.policy.policyVersion) {
    options.monitoring.log.warn('POLICY_FILE is not the active policy; the active one applies (change it with room-sync policy apply)', {
      policyFile: options.policy.policyVersion,
      active: record.version,
      activation: record.id,
    });
  }
}

/**
 * Replays a workflow's recorded history against the current workflow code: how engineers
 * debug a room's conflicts step by step, and how a change is checked for determinism.
 * Throws a DeterminismViolationError when the code no longer matches the history.
 */
export async function replayWorkflowHistory(
  history: Parameters<typeof Worker.runReplayHistory>[1],
  workflowId: string,
  workflowBundle?: WorkflowBundleWithSourceMap,
): Promise<void> {
  await Worker.runReplayHistory(
    workflowBundle ? { workflowBundle } : { workflowsPath, bundlerOptions },
    history,
    workflowId,
  );
}
