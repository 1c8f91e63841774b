import type { RoomKey, SourceName } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';

/** One captured row change, from the snapshot (as an insert) or the stream. */
export interface RowEvent {
  readonly source: SourceName;
  readonly table: string;
  readonly op: 'insert' | 'update' | 'delete';
  /** The row after the change; null for a delete. */
  readonly row: Record<string, unknown> | null;
  /** The row before (REPLICA IDENTITY FULL); null for inserts and snapshot rows. */
  readonly old: Record<string, unknown> | null;
  readonly position: string;
  readonly commitTime: string;
}

export interface RoomSignal {
  readonly room: RoomKey;
  readonly change: SourceChange;
}

/** Turns a source's row changes into room changes; unmappable rows become dead letters, never exceptions. */
export interface SourceDecoder {
  /** Loads the mirror state the decoder keys rows with; called before the snapshot or stream starts. */
  load(): Promise<void>;
  decode(event: RowEvent): Promise<RoomSignal[]>;
  /**
   * The room a row of the source's room table belongs to, even when its values cannot be
   * mapped (such a room is still in the source); null for other tables or an unkeyable row.
   */
  roomOf(table: string, row: Record<string, unknown>): RoomKey | null;
}

export type DeadLetterSink = (event: RowEvent, raw: Record<string, unknown>, reason: string) => Promise<void>;

export function roomChange(event: RowEvent, room: RoomKey, values: Extract<SourceChange, { kind: 'room' }>['values']): RoomSignal {
  return {
    room,
    change: {
      kind: 'room',
      source: event.source,
      hotelCode: room.hotelCode,
      roomCode: room.roomCode,
      position: event.position,
      commitTime: event.commitTime,
      values,
    },
  };
}

export function sameRoom(a: RoomKey, b: RoomKey): boolean {
  return a.hotelCode === b.hotelCode && a.roomCode === b.roomCode;
}
