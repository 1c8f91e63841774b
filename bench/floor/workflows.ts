// The design's floor (issue 14): one workflow per room, a loop over its signals, one local
// activity per change. Nothing of room-sync's own (no precedence, audit, batching): what
// Temporal and the TypeScript SDK charge for one workflow task per change.
import { condition, continueAsNew, defineSignal, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { FloorActivities, FloorChange, FloorRoom } from './types.js';

export const floorChangeSignal = defineSignal<[FloorChange]>('change');

const { applyFloorChange } = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '30s' });

/** About 5 events per change: runs of 120-180 events, as the prototype held. */
const changesPerRun = 30;

export async function floorRoomWorkflow(room: FloorRoom, carried: FloorChange[] = []): Promise<void> {
  const queue: FloorChange[] = [...carried];
  setHandler(floorChangeSignal, (change) => void queue.push(change));
  for (let applied = 0; applied < changesPerRun; applied++) {
    await condition(() => queue.length > 0);
    const change = queue.shift();
    if (change) await applyFloorChange(room, change);
  }
  await continueAsNew<typeof floorRoomWorkflow>(room, queue);
}
