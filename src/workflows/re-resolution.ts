import { makeContinueAsNewFunc, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createReResolutionActivities } from '../activities/re-resolution.js';
import { roomKeyText } from '../domain/room.js';
import { reResolutionProgressQuery, type ReResolutionProgress } from './messages.js';

type Activities = ReturnType<typeof createReResolutionActivities>;

// Heartbeats: a worker that dies mid-batch is noticed in seconds and the batch retried on another.
const { reResolveBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export interface ReResolutionInput {
  /** The policy's activation (policy_versions.id) and version. */
  readonly activation: string;
  readonly policyVersion: string;
  /** Rooms scanned per batch; the affected ones among them are signalled together, and waited for, before the next. */
  readonly pageSize?: number;
  readonly pagesPerRun?: number;
  /** Carried by continue-as-new. */
  readonly progress?: ReResolutionProgress;
}

const defaultPageSize = 200;
const defaultPagesPerRun = 200;
/** How long one batch waits for its rooms before those still waited for are signalled again. */
const batchWaitMs = 30_000;

/**
 * Re-resolves every room a newly applied policy decides differently, in bounded batches:
 * a page of rooms in key order, its affected rooms signalled (`reResolve`) and waited for
 * until their rows carry the policy, then the next page. Unaffected rooms are not touched.
 * The cursor is workflow state: a worker that dies resumes at the batch it was in (rooms
 * already done no longer count); the runs continue as new every `pagesPerRun` pages. Ends
 * when every room is done, or when a newer policy was applied meanwhile (its own
 * re-resolution covers every room).
 */
export async function reResolutionWorkflow(input: ReResolutionInput): Promise<ReResolutionProgress> {
  const { activation, policyVersion } = input;
  const pageSize = input.pageSize ?? defaultPageSize;
  const pagesPerRun = input.pagesPerRun ?? defaultPagesPerRun;
  const { taskQueue } = workflowInfo();
  let progress: ReResolutionProgress = input.progress ?? {
    activation,
    policyVersion,
    state: 'scanning',
    cursor: null,
    scanned: 0,
    affected: 0,
    reResolved: 0,
    waitingFor: [],
    supersededBy: null,
  };
  setHandler(reResolutionProgressQuery, () => progress);
  const batch = { activation, policyVersion, taskQueue, limit: pageSize, waitMs: batchWaitMs };
  const superseded = (by: string): ReResolutionProgress => ({ ...progress, state: 'superseded', supersededBy: by, waitingFor: [] });

  for (let pages = 0; ; pages += 1) {
    if (pages >= pagesPerRun || workflowInfo().continueAsNewSuggested) {
      const next = makeContinueAsNewFunc<typeof reResolutionWorkflow>({ typedSearchAttributes: workflowInfo().typedSearchAttributes });
      await next({ ...input, progress });
    }
    const page = await reResolveBatch({ ...batch, after: progress.cursor });
    if (page.supersededBy !== null) return superseded(page.supersededBy);
    progress = {
      ...progress,
      scanned: progress.scanned + page.scanned,
      affected: progress.affected + page.affected,
      reResolved: progress.reResolved + page.affected - page.remaining.length,
    };
    // Rooms not done within the wait (a busy or failing room): signalled again until they are.
    let remaining = page.remaining;
    while (remaining.length > 0) {
      progress = { ...progress, state: 'waiting', waitingFor: remaining.slice(0, 20).map(roomKeyText) };
      const again = await reResolveBatch({ ...batch, after: progress.cursor, rooms: remaining });
      if (again.supersededBy !== null) return superseded(again.supersededBy);
      progress = { ...progress, reResolved: progress.reResolved + remaining.length - again.remaining.length };
      remaining = again.remaining;
    }
    progress = { ...progress, cursor: page.next, waitingFor: [], state: page.next === null ? 'done' : 'scanning' };
    if (page.next === null) return progress;
  }
}
