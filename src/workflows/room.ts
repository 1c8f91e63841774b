import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  makeContinueAsNewFunc,
  patched,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { ConflictSummary, RoomView } from '../activities/apply-room-changes.js';
import type { QuarantineRecord } from '../db/quarantine-repository.js';
import { roomApplyFailedType } from '../domain/failure-types.js';
import { roomKeyText, type RoomKey } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';
import type { RoomSources } from '../merge/field-values.js';
import {
  deliverChangesUpdate,
  reResolveSignal,
  retryDeadLettersSignal,
  roomRunBatches,
  roomStateQuery,
  roomWorkflowTaskTimeout,
  sourceChangesSignal,
  type DeadLetterRetry,
  type ReResolveRequest,
  type RoomState,
} from './messages.js';
import { hotelClassKey, policyVersionKey } from './search-attributes.js';
import { describeBatch } from './batch-summary.js';

type Activities = ReturnType<typeof createActivities>;

/**
 * The apply runs as a local activity, inside the workflow task that took the signal: one
 * task per batch, and its result (the merged row with each source's position, the conflicts) is a marker
 * in the room's history. Failures of the store are retried without end (lag pages);
 * a failure of this room alone is given up after `quarantineAfterAttempts`.
 */
const applyOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;
const { applyRoomChanges } = proxyLocalActivities<Activities>(applyOptions);
const { quarantineRoomChanges } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Attempts before a room's failing changes are dead-lettered and the room quarantined (about 4 s of retries). */
export const quarantineAfterAttempts = 4;

const maxChangesPerApply = 500;
/** Runs of 50 batches instead of 100 (an earlier release). */
const runsOf50Patch = 'room-runs-of-50-batches';
/** Runs of `roomRunBatches` (25) instead of 50. */
const runsOf25Patch = 'room-runs-of-25-batches';

/** What one run hands the next. */
export interface CarriedRoomState {
  readonly pending: readonly SourceChange[];
  readonly retries: readonly DeadLetterRetry[];
  readonly row: RoomView | null;
  /** Carried by runs of earlier releases; not read (room_sources holds each source's values). */
  readonly sources?: RoomSources | null;
  readonly quarantine: QuarantineRecord | null;
  /** A re-resolution asked for and not yet run. */
  readonly reResolve?: ReResolveRequest | null;
}

export interface RoomWorkflowInput {
  readonly room: RoomKey;
  readonly carried?: CarriedRoomState;
  readonly maxBatchesPerRun?: number;
}

/** The apply's give-up, as the SDK surfaces a local activity's failure: bare or wrapped in an ActivityFailure. */
function roomApplyFailureOf(error: unknown): ApplicationFailure | null {
  const failure = error instanceof ActivityFailure ? error.cause : error;
  return failure instanceof ApplicationFailure && failure.type === roomApplyFailedType ? failure : null;
}

/**
 * One long-running workflow per room serializes every change from both sources for it:
 * signals queue, the loop applies what is pending in one transaction, a room whose apply
 * keeps failing is quarantined and the loop goes on. Precedence lives in the apply's pure
 * merge; the workflow decides nothing about it.
 */
export async function roomWorkflow(input: RoomWorkflowInput): Promise<void> {
  const { room } = input;
  const roomText = roomKeyText(room);
  const pending: SourceChange[] = [...(input.carried?.pending ?? [])];
  const retries: DeadLetterRetry[] = [...(input.carried?.retries ?? [])];
  let row = input.carried?.row ?? null;
  let quarantine = input.carried?.quarantine ?? null;
  let reResolve = input.carried?.reResolve ?? null;
  let lastConflicts: readonly ConflictSummary[] = [];
  let batchesApplied = 0;
  // Runs begun before runs were shortened keep their length (100, then 50 batches), so their histories replay unchanged.
  const maxBatchesPerRun = input.maxBatchesPerRun ?? (patched(runsOf25Patch) ? roomRunBatches : patched(runsOf50Patch) ? 50 : 100);

  const take = (changes: readonly SourceChange[]) => {
    pending.push(...changes);
  };
  setHandler(sourceChangesSignal, take);
  // CONNECTOR_DELIVERY=update hands the same changes over as an update (docs/capacity.md).
  setHandler(deliverChangesUpdate, take);
  setHandler(retryDeadLettersSignal, (retry) => {
    retries.push(retry);
  });
  setHandler(reResolveSignal, (request) => {
    reResolve = request;
  });
  setHandler(roomStateQuery, (): RoomState => ({
    room: roomText,
    row,
    policyVersion: row?.policyVersion ?? null,
    pendingChanges: pending.length,
    pendingRetries: retries.length,
    batchesApplied,
    lastConflicts,
    quarantine,
  }));

  const runIsLong = () => batchesApplied >= maxBatchesPerRun || workflowInfo().continueAsNewSuggested;
  // A cancel of the room's workflow is heard once for the whole run, and the loop runs in a
  // non-cancellable scope: every condition() and local activity in the (cancellable) root scope
  // would hang a reaction on its never-settled cancelRequested, keeping each batch's closures
  // (the changes it applied) in the cached run until it ends. A cancel still ends the run as
  // cancelled: at once while it waits, after the apply in flight is done and recorded.
  let cancelRequest: Error | null = null;
  CancellationScope.current().cancelRequested.catch((request: unknown) => {
    cancelRequest = request instanceof Error ? request : new CancelledFailure(String(request));
  });
  await CancellationScope.nonCancellable(async () => {
    for (;;) {
      await condition(() => cancelRequest !== null || pending.length > 0 || retries.length > 0 || reResolve !== null || runIsLong());
      if (cancelRequest !== null) throw cancelRequest;
      if (runIsLong()) {
        await condition(allHandlersFinished);
        // The task timeout of the code now running (a run started with an older one would carry it on forever).
        const next = makeContinueAsNewFunc<typeof roomWorkflow>({ typedSearchAttributes: workflowInfo().typedSearchAttributes, workflowTaskTimeout: roomWorkflowTaskTimeout });
        await next({ room, carried: { pending, retries, row, quarantine, reResolve }, ...(input.maxBatchesPerRun ? { maxBatchesPerRun } : {}) });
      }
      const retry = retries.shift();
      const batch = retry ? [...retry.changes] : pending.splice(0, maxChangesPerApply);
      const retriedDeadLetterIds = retry ? [...retry.deadLetterIds] : [];
      // A re-resolution rides with the next apply of changes, or runs alone: the apply resolves under the active policy.
      const reResolving = retry ? null : reResolve;
      if (reResolving) reResolve = null;
      const summary =
        reResolving && batch.length === 0 ? `re-resolve under policy ${reResolving.policyVersion} (#${reResolving.activation})` : describeBatch(batch, retry !== undefined);
      try {
        const result = await applyRoomChanges.executeWithOptions({ ...applyOptions, summary }, [
          { changes: batch, retriedDeadLetterIds, quarantineAfterAttempts, ...(reResolving ? { reResolve: [room] } : {}) },
        ]);
        const outcome = result.rooms.find((candidate) => candidate.room === roomText);
        if (outcome) {
          row = outcome.view;
          lastConflicts = outcome.conflicts;
          keepSearchAttributesCurrent(row);
        }
        if (result.quarantineLifted) quarantine = null;
      } catch (error) {
        const failure = roomApplyFailureOf(error);
        if (failure === null) throw error;
        // A re-resolution alone has no change to dead-letter: the row stays, the re-resolution workflow asks again.
        if (batch.length === 0 && !retry) continue;
        quarantine = await quarantineRoomChanges({
          room,
          changes: batch,
          reason: failure.message,
          quarantineKey: `${workflowInfo().runId}:${batchesApplied}`,
          retriedDeadLetterIds,
        });
      }
      batchesApplied += 1;
    }
  });
}

/** HotelClass and PolicyVersion follow the row, so the UI can list rooms by class or by policy. */
function keepSearchAttributesCurrent(row: RoomView): void {
  const current = workflowInfo().typedSearchAttributes;
  const updates = [
    { key: hotelClassKey, value: row.hotelClass },
    { key: policyVersionKey, value: row.policyVersion },
  ].filter(({ key, value }) => current.get(key) !== value);
  if (updates.length > 0) upsertSearchAttributes(updates);
}
