import { allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { SourceChange } from '../mapping/change.js';
import type { RoomKey, SourceName } from '../domain/room.js';
import { roomStateQuery, sourceChangesSignal } from './messages.js';

const { applyRoomChanges } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export interface RoomWorkflowInput {
  readonly room: RoomKey;
  /** Carried across continue-as-new so no signal is lost. */
  readonly pending?: readonly SourceChange[];
  readonly view?: RoomView | null;
  readonly lastPositions?: Readonly<Record<SourceName, string | null>>;
}

/** Keeps history well under Temporal's limits even for a room that changes all day. */
const maxBatchesPerRun = 500;

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
      await continueAsNew<typeof roomWorkflow>({ room: input.room, pending, view, lastPositions });
    }
  }
}
