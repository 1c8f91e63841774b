import { createRequire } from 'node:module';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities, type ActivityDependencies } from '../activities/index.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { Policy } from '../policy/schema.js';

const require = createRequire(import.meta.url);

const defaultMaxCachedWorkflows = 2_000;

/** Our sources import siblings as `./x.js` (NodeNext); webpack must find the `.ts` behind them. */
const bundlerOptions = {
  webpackConfigHook: (config: Parameters<NonNullable<NonNullable<Parameters<typeof bundleWorkflowCode>[0]['webpackConfigHook']>>>[0]) => {
    config.resolve = { ...config.resolve, extensionAlias: { '.js': ['.ts', '.js'] } };
    return config;
  },
};

export const workflowsPath = require.resolve('../workflows/index.ts');

/** Bundles the workflow code once; tests and the bench reuse it across workers. */
export async function bundleRoomSyncWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, ...bundlerOptions, logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`workflow bundler: ${message}\n`),
  error: (message: string) => process.stderr.write(`workflow bundler: ${message}\n`),
  log: () => undefined,
};

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

/** One worker hosts the room workflows, the lag monitor and their activities on one task queue. */
export async function createRoomSyncWorker(options: RoomSyncWorkerOptions): Promise<Worker> {
  const activities = createActivities({
    db: options.db,
    policy: options.policy,
    monitoring: options.monitoring,
    ...(options.onApplied ? { onApplied: options.onApplied } : {}),
    ...(options.onQuarantined ? { onQuarantined: options.onQuarantined } : {}),
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath, bundlerOptions }),
    maxCachedWorkflows: options.maxCachedWorkflows ?? defaultMaxCachedWorkflows,
  });
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
