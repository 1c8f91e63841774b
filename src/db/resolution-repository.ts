import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import type { RoomKey } from '../domain/room.js';
import type { RoomSources } from '../merge/field-values.js';
import { storedRoomSchema } from './apply-statements.js';
import type { UnifiedDatabase } from './schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/** A room as it was last resolved: its stored source values and the policy version its row carries. */
export interface StoredRoomResolution {
  readonly room: RoomKey;
  readonly sources: RoomSources;
  readonly policyVersion: string;
}

const rowSchema = storedRoomSchema.extend({ policy_version: z.string() });

function resolutionsOf(rows: readonly unknown[]): StoredRoomResolution[] {
  return z.array(rowSchema).parse(rows).map((row) => ({
    room: { hotelCode: row.hotel_code, roomCode: row.room_code },
    sources: { legacy: row.legacy, cloud: row.cloud, legacyHotel: row.legacy_hotel },
    policyVersion: row.policy_version,
  }));
}

/** Rooms with a unified row, in key order after `after`: the pages a re-resolution (or its dry run) scans. */
export async function readResolutionsPage(db: Db, after: RoomKey | null, limit: number): Promise<StoredRoomResolution[]> {
  const { rows } = await sql<unknown>`
    SELECT u.hotel_code, u.room_code, u.policy_version, s.legacy, s.cloud, s.legacy_hotel
      FROM unified_rooms u
      JOIN room_sources s ON s.hotel_code = u.hotel_code AND s.room_code = u.room_code
     WHERE (u.hotel_code, u.room_code) > (${after?.hotelCode ?? ''}, ${after?.roomCode ?? ''})
     ORDER BY u.hotel_code, u.room_code
     LIMIT ${limit}`.execute(db);
  return resolutionsOf(rows);
}

/** These rooms as last resolved; a room without a unified row is absent. */
export async function readResolutions(db: Db, rooms: readonly RoomKey[]): Promise<StoredRoomResolution[]> {
  if (rooms.length === 0) return [];
  const { rows } = await sql<unknown>`
    SELECT u.hotel_code, u.room_code, u.policy_version, s.legacy, s.cloud, s.legacy_hotel
      FROM unnest(${rooms.map((room) => room.hotelCode)}::text[], ${rooms.map((room) => room.roomCode)}::text[]) AS k(hotel_code, room_code)
      JOIN unified_rooms u ON u.hotel_code = k.hotel_code AND u.room_code = k.room_code
      JOIN room_sources s ON s.hotel_code = u.hotel_code AND s.room_code = u.room_code`.execute(db);
  return resolutionsOf(rows);
}
