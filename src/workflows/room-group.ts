import { allHandlersFinished, condition, continueAsNew, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { SourceChange } from '../mapping/change.js';
import { isNewer } from '../domain/position.js';
import { roomKeyText, type SourceName } from '../domain/room.js';
import { deliverChangesUpdate, retireRoomGroupSignal, roomGroupRoomStateQuery, roomGroupStateQuery, sourceChangesSignal } from './messages.js';

/**
 * The apply step runs as a local activity: in the worker, inside the workflow task that
 * took the deliveries, so a batch costs one workflow task and no activity task. Its
 * result (each room's merged row) is recorded in history as a marker.
 */
const { applyRoomChanges } = proxyLocalActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export interface RoomGroupWorkflowInput {
  /** The routing's name for the rooms this workflow serializes, e.g. `rooms/partition-2-of-4`. */
  readonly group: string;
  /** Carried across continue-as-new so no delivered change is lost. */
  readonly pending?: readonly SourceChange[];
  /** The highest position applied per source so far, carried across continue-as-new. */
  readonly lastPositions?: Readonly<Record<SourceName, string | null>>;
  /** Batches before continuing as new; keeps each run's history short for the UI and for replay. */
  readonly maxBatchesPerRun?: number;
}

/**
 * A run's length bounds what a cache miss costs (the worker replays the run, about 1 ms
 * per event here, some 6 events per batch) and keeps updates per run under the server's
 * limit (2,000).
 */
const defaultMaxBatchesPerRun = 200;
/** Bounds one apply transaction and the result recorded in history (a merged row per room, about 0.4 kB each). */
const maxChangesPerApply = 1_000;

function later(stored: string | null, candidate: string | null): string | null {
  return candidate !== null && isNewer(candidate, stored) ? candidate : stored;
}

/**
 * Releases before one workflow per room serialized several rooms here (a hotel, or a
 * partition of hotels). Kept so such runs replay and drain: `npm start` sends `retire`,
 * and the workflow applies what it holds, then completes. New changes go to room workflows.
 */
export async function roomGroupWorkflow(input: RoomGroupWorkflowInput): Promise<void> {
  let pending: SourceChange[] = [...(input.pending ?? [])];
  const views = new Map<string, RoomView>();
  let lastPositions: Readonly<Record<SourceName, string | null>> = input.lastPositions ?? { legacy: null, cloud: null };
  let batchesApplied = 0;
  let changesApplied = 0;
  const maxBatchesPerRun = input.maxBatchesPerRun ?? defaultMaxBatchesPerRun;

  let retiring = false;
  const take = (changes: readonly SourceChange[]) => {
    pending.push(...changes);
  };
  setHandler(retireRoomGroupSignal, () => {
    retiring = true;
  });
  setHandler(deliverChangesUpdate, take);
  setHandler(sourceChangesSignal, take);
  setHandler(roomGroupStateQuery, () => ({
    group: input.group,
    pendingChanges: pending.length,
    batchesApplied,
    changesApplied,
    roomsSeen: views.size,
    lastPositions,
    retiring,
  }));
  setHandler(roomGroupRoomStateQuery, (room) => views.get(roomKeyText(room)) ?? null);

  const runIsLong = () => workflowInfo().continueAsNewSuggested || batchesApplied >= maxBatchesPerRun;
  for (;;) {
    await condition(() => pending.length > 0 || runIsLong() || retiring);
    if (retiring && pending.length === 0) {
      await condition(allHandlersFinished);
      return;
    }
    if (runIsLong()) {
      // Updates that arrive during the hand-over are retried onto the next run by the server.
      await condition(allHandlersFinished);
      await continueAsNew<typeof roomGroupWorkflow>({ ...input, pending, lastPositions });
    }
    const batch = pending.slice(0, maxChangesPerApply);
    pending = pending.slice(batch.length);
    const result = await applyRoomChanges({ changes: batch });
    for (const { room, view } of result.rooms) {
      views.set(room, view);
      lastPositions = {
        legacy: later(lastPositions.legacy, view.lastPositions.legacy),
        cloud: later(lastPositions.cloud, view.lastPositions.cloud),
      };
    }
    batchesApplied += 1;
    changesApplied += result.applied;
  }
}
