import type { SourceRoomValues } from '../../src/mapping/change.js';

export interface FloorRoom {
  readonly hotelCode: string;
  readonly roomCode: string;
}

/** One source change as the floor's sender signals it. */
export interface FloorChange {
  readonly source: 'legacy' | 'cloud';
  readonly commitTime: string;
  readonly position: string;
  readonly values: SourceRoomValues | null;
}

export interface FloorActivities {
  applyFloorChange(room: FloorRoom, change: FloorChange): Promise<void>;
}

export const floorTaskQueue = 'floor';
export const floorWorkflowType = 'floorRoomWorkflow';
export const floorSignalName = 'change';
export const floorPublication = 'bench_floor';
export function floorSlotName(source: string): string {
  return `bench_floor_${source}`;
}
export function floorWorkflowId(room: FloorRoom): string {
  return `floor:${room.hotelCode}/${room.roomCode}`;
}
