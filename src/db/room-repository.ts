import { sql, type Kysely, type Transaction } from 'kysely';
import type { RoomKey, SourceName } from '../domain/room.js';
import { hotelLockSpace } from './apply-statements.js';
import type { UnifiedDatabase } from './schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/**
 * The legacy connector changes a hotel under this lock, then lists the hotel's rooms to
 * re-resolve; every apply holds the hotel shared until it commits (lockRoomsAndHotels),
 * so no room can read the old hotel and commit unseen by that list.
 */
export async function lockHotelExclusive(trx: Transaction<UnifiedDatabase>, hotelCode: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${hotelLockSpace}, hashtext(${hotelCode}))`.execute(trx);
}

/** Rooms of a hotel that already have a unified row: the fan-out set when a legacy property changes. */
export async function listHotelRooms(db: Db, hotelCode: string): Promise<RoomKey[]> {
  const rows = await db.selectFrom('unified_rooms').select(['hotel_code', 'room_code']).where('hotel_code', '=', hotelCode).execute();
  return rows.map((row) => ({ hotelCode: row.hotel_code, roomCode: row.room_code }));
}

/**
 * Rooms the unified store holds as present in `source`: its latest stored value there is a
 * row (not "left"), or a change of it from that source older than `before` is delivered but
 * not applied yet (it may be the room's first). One statement, so an apply moving a change
 * from the ledger into room_sources is seen once. A ledger entry may also be a legacy
 * property's fan-out to a room legacy never had; marking such a room as left changes none
 * of its values.
 */
export async function listRoomsPresentIn(db: Db, source: SourceName, before: string): Promise<RoomKey[]> {
  const { rows } = await sql<{ hotel_code: string; room_code: string }>`
    SELECT hotel_code, room_code FROM room_sources
     WHERE jsonb_typeof(CASE WHEN ${source} = 'legacy' THEN legacy ELSE cloud END -> 'values') = 'object'
    UNION
    SELECT hotel_code, room_code FROM unapplied_changes WHERE source = ${source} AND position < ${before}`.execute(db);
  return rows.map((row) => ({ hotelCode: row.hotel_code, roomCode: row.room_code }));
}
