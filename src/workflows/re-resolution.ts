import { makeContinueAsNewFunc, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createReResolutionActivities } from '../activities/re-resolution.js';
import { roomKeyText } from '../domain/room.js';
import { reResolutionProgressQuery, type ReResolutionProgress, type ReResolveRequest } from './messages.js';

type Activities = ReturnType<typeof createReResolutionActivities>;

const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' } as const;
const { findRoomsToReResolve } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute', retry });
// Heartbeats: a worker that dies mid-batch is noticed in seconds and the batch retried on another.
const { signalReResolve, awaitReResolved } = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry });

export interface ReResolutionInput {
  /** The policy's activation (policy_versions.id) and version. */
  readonly activation: string;
  readonly policyVersion: string;
  /** Rooms scanned per page; the affected ones among them are signalled together, and waited for, before the next page. */
  readonly pageSize?: number;
  readonly pagesPerRun?: number;
  /** Carried by continue-as-new. */
  readonly progress?: ReResolutionProgress;
}

const defaultPageSize = 200;
const defaultPagesPerRun = 100;
/** How long one wait for a batch lasts before the rooms still waited for are signalled again. */
const batchWaitMs = 30_000;

/**
 * Re-resolves every room a newly applied policy decides differently, in bounded batches:
 * scan a page of rooms in key order, signal the affected ones (`reResolve`), wait until
 * their rows carry the policy, go on from the page's last room. Unaffected rooms are not
 * touched. The cursor is workflow state: a worker that dies resumes where it was; the runs
 * continue as new every `pagesPerRun` pages. Ends when every room is done, or when a newer
 * policy was applied meanwhile (its own re-resolution covers every room).
 */
export async function reResolutionWorkflow(input: ReResolutionInput): Promise<ReResolutionProgress> {
  const { activation, policyVersion } = input;
  const pageSize = input.pageSize ?? defaultPageSize;
  const pagesPerRun = input.pagesPerRun ?? defaultPagesPerRun;
  const request: ReResolveRequest = { activation, policyVersion };
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
  const superseded = (by: string): ReResolutionProgress => ({ ...progress, state: 'superseded', supersededBy: by, waitingFor: [] });

  for (let pages = 0; ; pages += 1) {
    if (pages >= pagesPerRun || workflowInfo().continueAsNewSuggested) {
      const next = makeContinueAsNewFunc<typeof reResolutionWorkflow>({ typedSearchAttributes: workflowInfo().typedSearchAttributes });
      await next({ ...input, progress });
    }
    const page = await findRoomsToReResolve({ activation, after: progress.cursor, limit: pageSize });
    if (page.supersededBy !== null) return superseded(page.supersededBy);
    progress = { ...progress, state: 'waiting', scanned: progress.scanned + page.scanned, affected: progress.affected + page.rooms.length };
    let waiting = page.rooms;
    while (waiting.length > 0) {
      progress = { ...progress, waitingFor: waiting.slice(0, 20).map(roomKeyText) };
      await signalReResolve({ rooms: waiting, request, taskQueue });
      const wait = await awaitReResolved({ activation, rooms: waiting, waitMs: batchWaitMs });
      progress = { ...progress, reResolved: progress.reResolved + waiting.length - wait.remaining.length };
      if (wait.supersededBy !== null) return superseded(wait.supersededBy);
      waiting = wait.remaining;
    }
    progress = { ...progress, cursor: page.next, waitingFor: [], state: page.next === null ? 'done' : 'scanning' };
    if (page.next === null) return progress;
  }
}
