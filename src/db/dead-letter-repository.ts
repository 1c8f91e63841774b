import type { Kysely } from 'kysely';
import type { RoomKey, SourceName } from '../domain/room.js';
import type { UnifiedDatabase } from './schema.js';

export interface DeadLetter {
  readonly source: SourceName;
  readonly tableName: string;
  readonly position: string;
  readonly commitTime: string | null;
  /** Tells apart rows of one snapshot, which share a position. */
  readonly rowKey: string;
  readonly raw: unknown;
  readonly reason: string;
  /** The room the row was meant for, where the row could be keyed. */
  readonly room?: RoomKey;
}

/** pg decodes bigint as string and timestamps as Date; JSON keeps both readable. */
export function toJson(raw: unknown): string {
  return JSON.stringify(raw, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** Returns true when the row is new; a replayed stream finds its bad rows already there. */
export async function recordDeadLetter(db: Kysely<UnifiedDatabase>, letter: DeadLetter): Promise<boolean> {
  const result = await db
    .insertInto('dead_letters')
    .values({
      source: letter.source,
      table_name: letter.tableName,
      position: letter.position,
      commit_time: letter.commitTime,
      row_key: letter.rowKey,
      raw: toJson(letter.raw),
      reason: letter.reason,
      hotel_code: letter.room?.hotelCode ?? null,
      room_code: letter.room?.roomCode ?? null,
    })
    .onConflict((conflict) => conflict.doNothing())
    .executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}
