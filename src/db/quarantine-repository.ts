import { sql, type Kysely, type Transaction } from 'kysely';
import { roomKeyText, type RoomKey, type SourceName } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';
import { toJson } from './dead-letter-repository.js';
import type { UnifiedDatabase } from './schema.js';
import { appliedUpTo, clearUnapplied } from './unapplied-repository.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/** Dead letters of a room's failed apply live in this pseudo table; `dead-letters retry` re-delivers them. */
export const roomApplyTable = 'room-apply';

export interface QuarantineInput {
  readonly room: RoomKey;
  readonly changes: readonly SourceChange[];
  readonly reason: string;
  /** Deterministic per failed batch (run id and batch number), so a retried write adds nothing. */
  readonly quarantineKey: string;
  /** Dead letters whose retry this batch was: they failed again. */
  readonly retriedDeadLetterIds: readonly string[];
}

export interface QuarantineRecord {
  readonly room: string;
  readonly source: SourceName;
  readonly reason: string;
  readonly quarantinedAt: string;
  readonly deadLetters: number;
}

/**
 * One transaction: the failing changes become dead letters (with the error), the room is
 * quarantined (not sold, paged by the monitor), and its changes stop counting as waiting.
 */
export async function quarantineRoom(db: Kysely<UnifiedDatabase>, input: QuarantineInput): Promise<QuarantineRecord> {
  const source = input.changes[0]?.source ?? 'legacy';
  return db.transaction().execute(async (trx) => {
    if (input.changes.length > 0) {
      await trx
        .insertInto('dead_letters')
        .values(
          input.changes.map((change, index) => ({
            source: change.source,
            table_name: roomApplyTable,
            position: change.position,
            commit_time: change.commitTime,
            row_key: `${input.quarantineKey}#${index}`,
            raw: toJson(change),
            reason: `apply failed: ${input.reason}`,
            hotel_code: input.room.hotelCode,
            room_code: input.room.roomCode,
          })),
        )
        .onConflict((conflict) => conflict.doNothing())
        .execute();
    }
    if (input.retriedDeadLetterIds.length > 0) {
      await trx
        .updateTable('dead_letters')
        .set({ retried_at: sql<Date>`now()`, retry_outcome: 'failed-again' })
        .where('id', 'in', [...input.retriedDeadLetterIds])
        .where('retry_outcome', 'is', null)
        .execute();
    }
    const row = await trx
      .insertInto('room_quarantine')
      .values({ hotel_code: input.room.hotelCode, room_code: input.room.roomCode, source, reason: input.reason })
      // The first failure dates the quarantine; the reason is the latest one.
      .onConflict((conflict) => conflict.columns(['hotel_code', 'room_code']).doUpdateSet({ reason: input.reason }))
      .returning(['quarantined_at'])
      .executeTakeFirstOrThrow();
    await clearUnapplied(trx, appliedUpTo(input.changes));
    const open = await openRoomDeadLetters(trx, input.room);
    return { room: roomKeyText(input.room), source, reason: input.reason, quarantinedAt: row.quarantined_at.toISOString(), deadLetters: open.length };
  });
}

export interface RoomDeadLetter {
  readonly id: string;
  readonly tableName: string;
  readonly source: SourceName;
  readonly raw: unknown;
  readonly reason: string;
}

/** A room's dead letters no retry has settled yet, oldest first. */
export async function openRoomDeadLetters(db: Db, room: RoomKey): Promise<RoomDeadLetter[]> {
  const rows = await db
    .selectFrom('dead_letters')
    .select(['id', 'table_name', 'source', 'raw', 'reason'])
    .where('hotel_code', '=', room.hotelCode)
    .where('room_code', '=', room.roomCode)
    .where('retry_outcome', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((row) => ({ id: row.id, tableName: row.table_name, source: row.source, raw: row.raw, reason: row.reason }));
}

/** Inside the apply transaction: retried dead letters are applied; the room leaves quarantine once none is left open. */
export async function settleRetriedDeadLetters(trx: Transaction<UnifiedDatabase>, room: RoomKey, ids: readonly string[]): Promise<boolean> {
  if (ids.length === 0) return false;
  await trx
    .updateTable('dead_letters')
    .set({ retried_at: sql<Date>`now()`, retry_outcome: 'applied' })
    .where('id', 'in', [...ids])
    .where('retry_outcome', 'is', null)
    .execute();
  const open = await openRoomDeadLetters(trx, room);
  if (open.some((letter) => letter.tableName === roomApplyTable)) return false;
  const lifted = await trx.deleteFrom('room_quarantine').where('hotel_code', '=', room.hotelCode).where('room_code', '=', room.roomCode).executeTakeFirst();
  return lifted.numDeletedRows > 0n;
}

/** Every quarantined room, for the monitor's pages and `room-sync status`. */
export async function listQuarantinedRooms(db: Db): Promise<{ room: string; source: SourceName; reason: string; quarantinedAt: string }[]> {
  const rows = await db.selectFrom('room_quarantine').selectAll().orderBy('quarantined_at').execute();
  return rows.map((row) => ({
    room: roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code }),
    source: row.source,
    reason: row.reason,
    quarantinedAt: row.quarantined_at.toISOString(),
  }));
}
