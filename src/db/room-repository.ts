import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import type { RoomKey } from '../domain/room.js';
import { legacyHotelSchema, sourceRoomValuesSchema, type LegacyHotel } from '../mapping/change.js';
import type { Conflict } from '../merge/apply-changes.js';
import type { RoomSources, SourceRecord } from '../merge/field-values.js';
import type { ResolvedRoom } from '../merge/resolve.js';
import type { UnifiedDatabase } from './schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

// Advisory lock namespaces (first key of the two-int form), so room and hotel locks never collide.
const roomLockSpace = 7101;
const hotelLockSpace = 7102;

const sourceRecordSchema = z.object({
  position: z.string(),
  commitTime: z.string(),
  values: sourceRoomValuesSchema.nullable(),
});

/**
 * Serializes writers of one room. The workflow already does, but a timed-out
 * activity attempt can still be running when its retry starts.
 */
export async function lockRoom(trx: Transaction<UnifiedDatabase>, room: RoomKey): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${roomLockSpace}, hashtext(${`${room.hotelCode}/${room.roomCode}`}))`.execute(trx);
}

/**
 * Readers of a legacy hotel hold it shared until commit; the legacy connector takes it
 * exclusively to change the hotel, then lists the hotel's rooms to re-resolve. So no
 * room can read the old hotel and commit unseen by that list.
 */
export async function lockHotelShared(trx: Transaction<UnifiedDatabase>, hotelCode: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock_shared(${hotelLockSpace}, hashtext(${hotelCode}))`.execute(trx);
}

export async function lockHotelExclusive(trx: Transaction<UnifiedDatabase>, hotelCode: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${hotelLockSpace}, hashtext(${hotelCode}))`.execute(trx);
}

function parseSourceRecord(value: unknown): SourceRecord | null {
  return value === null || value === undefined ? null : sourceRecordSchema.parse(value);
}

export async function loadRoomSources(db: Db, room: RoomKey): Promise<RoomSources> {
  const row = await db
    .selectFrom('room_sources')
    .select(['legacy', 'cloud', 'legacy_hotel'])
    .where('hotel_code', '=', room.hotelCode)
    .where('room_code', '=', room.roomCode)
    .executeTakeFirst();
  if (!row) return { legacy: null, cloud: null, legacyHotel: null };
  return {
    legacy: parseSourceRecord(row.legacy),
    cloud: parseSourceRecord(row.cloud),
    legacyHotel: row.legacy_hotel === null ? null : legacyHotelSchema.parse(row.legacy_hotel),
  };
}

export async function saveRoomSources(db: Db, room: RoomKey, sources: RoomSources): Promise<void> {
  const values = {
    legacy: sources.legacy === null ? null : JSON.stringify(sources.legacy),
    cloud: sources.cloud === null ? null : JSON.stringify(sources.cloud),
    legacy_hotel: sources.legacyHotel === null ? null : JSON.stringify(sources.legacyHotel),
    updated_at: sql<Date>`now()`,
  };
  await db
    .insertInto('room_sources')
    .values({ hotel_code: room.hotelCode, room_code: room.roomCode, ...values })
    .onConflict((conflict) => conflict.columns(['hotel_code', 'room_code']).doUpdateSet(values))
    .execute();
}

export async function loadLegacyHotel(db: Db, hotelCode: string): Promise<LegacyHotel | null> {
  const row = await db.selectFrom('legacy_hotels').selectAll().where('hotel_code', '=', hotelCode).executeTakeFirst();
  if (!row) return null;
  return {
    hotelCode: row.hotel_code,
    present: row.present,
    mgmtType: row.mgmt_typ,
    currency: row.currency,
    position: row.position,
    commitTime: row.commit_time.toISOString(),
  };
}

export async function upsertUnifiedRoom(
  db: Db,
  room: RoomKey,
  resolved: ResolvedRoom,
  sources: RoomSources,
  lastChangeCommitTime: string | null,
): Promise<void> {
  const values = {
    hotel_class: resolved.hotelClass,
    room_type: resolved.roomType,
    rate_minor: resolved.rate?.rate_minor ?? null,
    currency: resolved.rate?.currency ?? null,
    availability: resolved.availability,
    status: resolved.status,
    rate_source: resolved.decisions.rate.source,
    availability_source: resolved.decisions.availability.source,
    room_type_source: resolved.decisions.room_type.source,
    status_source: resolved.decisions.status.source,
    availability_owner: resolved.decisions.availability.owner,
    policy_version: resolved.policyVersion,
    updated_at: sql<Date>`now()`,
    legacy_position: sources.legacy?.position ?? null,
    cloud_position: sources.cloud?.position ?? null,
    legacy_commit_time: sources.legacy?.commitTime ?? null,
    cloud_commit_time: sources.cloud?.commitTime ?? null,
  };
  const withLatest = lastChangeCommitTime === null ? values : { ...values, last_change_commit_time: lastChangeCommitTime };
  await db
    .insertInto('unified_rooms')
    .values({ hotel_code: room.hotelCode, room_code: room.roomCode, ...withLatest })
    .onConflict((conflict) => conflict.columns(['hotel_code', 'room_code']).doUpdateSet(withLatest))
    .execute();
}

export async function appendConflicts(
  db: Db,
  room: RoomKey,
  conflicts: readonly Conflict[],
  policyVersion: string,
): Promise<number> {
  if (conflicts.length === 0) return 0;
  const result = await db
    .insertInto('conflict_audit')
    .values(
      conflicts.map((conflict) => ({
        hotel_code: room.hotelCode,
        room_code: room.roomCode,
        field: conflict.field,
        legacy_value: JSON.stringify(conflict.legacyValue),
        cloud_value: JSON.stringify(conflict.cloudValue),
        winning_value: JSON.stringify(conflict.winningValue),
        winning_source: conflict.winningSource,
        rule: conflict.rule,
        policy_version: policyVersion,
        hotel_class: conflict.hotelClass,
        legacy_position: conflict.legacyPosition,
        legacy_hotel_position: conflict.legacyHotelPosition,
        cloud_position: conflict.cloudPosition,
        trigger_source: conflict.triggerSource,
        trigger_position: conflict.triggerPosition,
      })),
    )
    // Defence in depth: the position guard already drops replays.
    .onConflict((conflict) => conflict.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n);
}

/** Rooms of a hotel that already have a unified row: the fan-out set when a legacy property changes. */
export async function listHotelRooms(db: Db, hotelCode: string): Promise<RoomKey[]> {
  const rows = await db.selectFrom('unified_rooms').select(['hotel_code', 'room_code']).where('hotel_code', '=', hotelCode).execute();
  return rows.map((row) => ({ hotelCode: row.hotel_code, roomCode: row.room_code }));
}
