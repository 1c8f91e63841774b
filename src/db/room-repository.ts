import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { roomKeyText, type RoomKey } from '../domain/room.js';
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
 * Serializes writers of the same rooms. The workflow already does, but a timed-out
 * activity attempt can still be running when its retry starts, and while a routing
 * change drains, two workflows may hold changes of one room. Keys are locked in sorted
 * order so two batches never wait on each other in a cycle.
 */
export async function lockRooms(trx: Transaction<UnifiedDatabase>, rooms: readonly RoomKey[]): Promise<void> {
  const keys = [...new Set(rooms.map(roomKeyText))].sort();
  if (keys.length === 0) return;
  await sql`SELECT count(pg_advisory_xact_lock(${roomLockSpace}, hashtext(k))) FROM unnest(${keys}::text[]) WITH ORDINALITY AS locked(k, n)`.execute(trx);
}

/**
 * Readers of a legacy hotel hold it shared until commit; the legacy connector takes it
 * exclusively to change the hotel, then lists the hotel's rooms to re-resolve. So no
 * room can read the old hotel and commit unseen by that list.
 */
export async function lockHotelsShared(trx: Transaction<UnifiedDatabase>, hotelCodes: readonly string[]): Promise<void> {
  const codes = [...new Set(hotelCodes)].sort();
  if (codes.length === 0) return;
  await sql`SELECT count(pg_advisory_xact_lock_shared(${hotelLockSpace}, hashtext(code))) FROM unnest(${codes}::text[]) WITH ORDINALITY AS locked(code, n)`.execute(trx);
}

export async function lockHotelExclusive(trx: Transaction<UnifiedDatabase>, hotelCode: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${hotelLockSpace}, hashtext(${hotelCode}))`.execute(trx);
}

function parseSourceRecord(value: unknown): SourceRecord | null {
  return value === null || value === undefined ? null : sourceRecordSchema.parse(value);
}

const noSources: RoomSources = { legacy: null, cloud: null, legacyHotel: null };

/** Each room's stored source values, keyed by `roomKeyText`; a room never seen has none. */
export async function loadRoomSources(db: Db, rooms: readonly RoomKey[]): Promise<Map<string, RoomSources>> {
  const loaded = new Map<string, RoomSources>(rooms.map((room) => [roomKeyText(room), noSources]));
  if (rooms.length === 0) return loaded;
  const rows = await db
    .selectFrom('room_sources')
    .select(['hotel_code', 'room_code', 'legacy', 'cloud', 'legacy_hotel'])
    .where(({ eb, refTuple, tuple }) =>
      eb(
        refTuple('hotel_code', 'room_code'),
        'in',
        rooms.map((room) => tuple(room.hotelCode, room.roomCode)),
      ),
    )
    .execute();
  for (const row of rows) {
    loaded.set(roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code }), {
      legacy: parseSourceRecord(row.legacy),
      cloud: parseSourceRecord(row.cloud),
      legacyHotel: row.legacy_hotel === null ? null : legacyHotelSchema.parse(row.legacy_hotel),
    });
  }
  return loaded;
}

export async function saveRoomSources(db: Db, rooms: readonly { readonly room: RoomKey; readonly sources: RoomSources }[]): Promise<void> {
  if (rooms.length === 0) return;
  await db
    .insertInto('room_sources')
    .values(
      rooms.map(({ room, sources }) => ({
        hotel_code: room.hotelCode,
        room_code: room.roomCode,
        legacy: sources.legacy === null ? null : JSON.stringify(sources.legacy),
        cloud: sources.cloud === null ? null : JSON.stringify(sources.cloud),
        legacy_hotel: sources.legacyHotel === null ? null : JSON.stringify(sources.legacyHotel),
        updated_at: sql<Date>`now()`,
      })),
    )
    .onConflict((conflict) =>
      conflict.columns(['hotel_code', 'room_code']).doUpdateSet(({ ref }) => ({
        legacy: ref('excluded.legacy'),
        cloud: ref('excluded.cloud'),
        legacy_hotel: ref('excluded.legacy_hotel'),
        updated_at: ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** Each legacy hotel the batch's rooms belong to, keyed by hotel code; absent when legacy never had it. */
export async function loadLegacyHotels(db: Db, hotelCodes: readonly string[]): Promise<Map<string, LegacyHotel>> {
  const codes = [...new Set(hotelCodes)];
  const hotels = new Map<string, LegacyHotel>();
  if (codes.length === 0) return hotels;
  const rows = await db.selectFrom('legacy_hotels').selectAll().where('hotel_code', 'in', codes).execute();
  for (const row of rows) {
    hotels.set(row.hotel_code, {
      hotelCode: row.hotel_code,
      present: row.present,
      mgmtType: row.mgmt_typ,
      currency: row.currency,
      position: row.position,
      commitTime: row.commit_time.toISOString(),
    });
  }
  return hotels;
}

export interface UnifiedRoomWrite {
  readonly room: RoomKey;
  readonly resolved: ResolvedRoom;
  readonly sources: RoomSources;
  /** Commit time of the newest change this batch applied to the room; null keeps the stored one. */
  readonly lastChangeCommitTime: string | null;
}

export async function upsertUnifiedRooms(db: Db, writes: readonly UnifiedRoomWrite[]): Promise<void> {
  if (writes.length === 0) return;
  await db
    .insertInto('unified_rooms')
    .values(
      writes.map(({ room, resolved, sources, lastChangeCommitTime }) => ({
        hotel_code: room.hotelCode,
        room_code: room.roomCode,
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
        last_change_commit_time: lastChangeCommitTime,
      })),
    )
    .onConflict((conflict) =>
      conflict.columns(['hotel_code', 'room_code']).doUpdateSet(({ ref, fn }) => ({
        hotel_class: ref('excluded.hotel_class'),
        room_type: ref('excluded.room_type'),
        rate_minor: ref('excluded.rate_minor'),
        currency: ref('excluded.currency'),
        availability: ref('excluded.availability'),
        status: ref('excluded.status'),
        rate_source: ref('excluded.rate_source'),
        availability_source: ref('excluded.availability_source'),
        room_type_source: ref('excluded.room_type_source'),
        status_source: ref('excluded.status_source'),
        availability_owner: ref('excluded.availability_owner'),
        policy_version: ref('excluded.policy_version'),
        updated_at: ref('excluded.updated_at'),
        legacy_position: ref('excluded.legacy_position'),
        cloud_position: ref('excluded.cloud_position'),
        legacy_commit_time: ref('excluded.legacy_commit_time'),
        cloud_commit_time: ref('excluded.cloud_commit_time'),
        last_change_commit_time: fn.coalesce('excluded.last_change_commit_time', 'unified_rooms.last_change_commit_time'),
      })),
    )
    .execute();
}

export interface RoomConflict {
  readonly room: RoomKey;
  readonly conflict: Conflict;
}

export async function appendConflicts(db: Db, conflicts: readonly RoomConflict[], policyVersion: string): Promise<number> {
  if (conflicts.length === 0) return 0;
  const result = await db
    .insertInto('conflict_audit')
    .values(
      conflicts.map(({ room, conflict }) => ({
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
