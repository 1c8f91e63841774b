import { allHandlersFinished, condition, continueAsNew, patched, proxyActivities, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { SourceChange } from '../mapping/change.js';
import type { RoomKey, SourceName } from '../domain/room.js';
import { roomStateQuery, sourceChangesSignal } from './messages.js';

const applyOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;

/** Histories written before the apply step became a local activity replay with the activity they recorded. */
const { applyRoomChanges: applyAsActivity } = proxyActivities<ReturnType<typeof createActivities>>(applyOptions);

/**
 * The apply step runs as a local activity: in the worker, inside the workflow task that
 * received the signal, so a change costs one workflow task instead of two plus an
 * activity task. Same function, timeout and retries; its result is recorded as a marker.
 */
const { applyRoomChanges: applyLocally } = proxyLocalActivities<ReturnType<typeof createActivities>>(applyOptions);

function applyRoomChanges(input: Parameters<typeof applyLocally>[0]): ReturnType<typeof applyLocally> {
  return patched('apply-as-local-activity') ? applyLocally(input) : applyAsActivity(input);
}

export interface RoomWorkflowInput {
  readonly room: RoomKey;
  /** Carried across continue-as-new so no signal is lost. */
  readonly pending?: readonly SourceChange[];
  readonly view?: RoomView | null;
  readonly lastPositions?: Readonly<Record<SourceName, string | null>>;
  /** Batches before continuing as new; keeps history well under Temporal's limits for a room that changes all day. */
  readonly maxBatchesPerRun?: number;
}

const defaultMaxBatchesPerRun = 500;

/**
 * One workflow per room serializes every change from both sources: signals queue,
 * the loop drains all that is pending into one activity call, and the activity's
 * transaction does the merge. The workflow itself decides nothing about precedence.
 */
export async function roomWorkflow(input: RoomWorkflowInput): Promise<void> {
  let pending: SourceChange[] = [...(input.pending ?? [])];
  let view: RoomView | null = input.view ?? null;
  let lastPositions = input.lastPositions ?? { legacy: null, cloud: null };
  let batchesApplied = 0;
  const maxBatchesPerRun = input.maxBatchesPerRun ?? defaultMaxBatchesPerRun;

  setHandler(sourceChangesSignal, (changes) => {
    pending.push(...changes);
  });
  setHandler(roomStateQuery, () => ({
    room: input.room,
    view,
    lastPositions,
    pendingChanges: pending.length,
    batchesApplied,
  }));

  for (;;) {
    await condition(() => pending.length > 0 || workflowInfo().continueAsNewSuggested || batchesApplied >= maxBatchesPerRun);
    if (pending.length > 0) {
      const batch = pending;
      pending = [];
      const result = await applyRoomChanges({ room: input.room, changes: batch });
      view = result.view;
      lastPositions = result.view.lastPositions;
      batchesApplied += 1;
    }
    if (workflowInfo().continueAsNewSuggested || batchesApplied >= maxBatchesPerRun) {
      // Whatever arrived meanwhile travels in the new run's input; none is dropped.
      await condition(allHandlersFinished);
      await continueAsNew<typeof roomWorkflow>({ ...input, pending, view, lastPositions });
    }
  }
}
