import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { SourceChange } from '../mapping/change.js';
import type { RoomView } from '../activities/apply-room-changes.js';
import type { RoomKey, SourceName } from '../domain/room.js';

/** Connectors send each room's changes here; a batch may hold changes of several transactions. */
export const sourceChangesSignal = defineSignal<[SourceChange[]]>('sourceChanges');

export interface RoomState {
  readonly room: RoomKey;
  /** The merged row as last written; null before the first batch is applied. */
  readonly view: RoomView | null;
  readonly lastPositions: Readonly<Record<SourceName, string | null>>;
  readonly pendingChanges: number;
  readonly batchesApplied: number;
}

export const roomStateQuery = defineQuery<RoomState>('roomState');
