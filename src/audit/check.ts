import { sql, type Kysely, type RawBuilder } from 'kysely';
import { z } from 'zod';
import type { UnifiedDatabase } from '../db/schema.js';
import { roomKeyText, type RoomKey } from '../domain/room.js';
import { legacyHotelSchema, sourceRoomValuesSchema } from '../mapping/change.js';
import type { RoomSources } from '../merge/field-values.js';
import { resolveRoom, type ResolvedRoom } from '../merge/resolve.js';
import type { Policy } from '../policy/schema.js';

/**
 * `room-sync audit check`: recomputes every unified row from what room_sources stores (each
 * source's latest value, the same transaction wrote both) with the pure merge and the given
 * policy, and names every column that differs. A difference is a row edited behind the
 * pipeline's back, a merge that changed since, or a row resolved under another policy.
 */

export interface RoomDifference {
  readonly room: string;
  /** `rate`, `availability`, `room_type`, `status` (value or source), `hotel_class`, `policy_version`, `availability_owner` or `row`. */
  readonly column: string;
  readonly unified: string;
  readonly recomputed: string;
}

export interface CheckResult {
  readonly rooms: number;
  readonly differences: number;
  readonly roomsDiffering: number;
}

export interface CheckOptions {
  readonly room?: RoomKey;
  /** One hotel's rooms only (`room-sync reconcile --hotel`). */
  readonly hotel?: string;
  readonly pageSize?: number;
  readonly onDifference?: (difference: RoomDifference) => void;
  readonly onProgress?: (rooms: number) => void;
}

const sourceRecordSchema = z.object({ position: z.string(), commitTime: z.string(), values: sourceRoomValuesSchema.nullable() });
const storedSourcesSchema = z.object({
  legacy: sourceRecordSchema.nullable(),
  cloud: sourceRecordSchema.nullable(),
  legacy_hotel: legacyHotelSchema.nullable(),
});

export interface CheckRow {
  hotel_code: string;
  room_code: string;
  hotel_class: string;
  room_type: string | null;
  rate_minor: string | null;
  currency: string | null;
  availability: number | null;
  status: string;
  rate_source: string;
  availability_source: string;
  room_type_source: string;
  status_source: string;
  availability_owner: string | null;
  policy_version: string;
  has_sources: boolean;
  legacy: unknown;
  cloud: unknown;
  legacy_hotel: unknown;
}

function text(value: string | number | null | undefined): string {
  return value === null || value === undefined ? 'null' : String(value);
}

/** Every column of the stored row that is not what the merge gives for its stored sources. */
export function compareRow(row: CheckRow, resolved: ResolvedRoom): RoomDifference[] {
  const room = roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code });
  const differences: RoomDifference[] = [];
  const compare = (column: string, unified: string, recomputed: string) => {
    if (unified !== recomputed) differences.push({ room, column, unified, recomputed });
  };
  const rate = row.rate_minor === null && row.currency === null ? 'null' : `${text(row.rate_minor)} ${text(row.currency)}`;
  const recomputedRate = resolved.rate === null ? 'null' : `${resolved.rate.rate_minor} ${resolved.rate.currency}`;
  compare('rate', `${rate} from ${row.rate_source}`, `${recomputedRate} from ${resolved.decisions.rate.source}`);
  compare('availability', `${text(row.availability)} from ${row.availability_source}`, `${text(resolved.availability)} from ${resolved.decisions.availability.source}`);
  compare('room_type', `${text(row.room_type)} from ${row.room_type_source}`, `${text(resolved.roomType)} from ${resolved.decisions.room_type.source}`);
  compare('status', `${row.status} from ${row.status_source}`, `${resolved.status} from ${resolved.decisions.status.source}`);
  compare('hotel_class', row.hotel_class, resolved.hotelClass);
  compare('availability_owner', text(row.availability_owner), resolved.decisions.availability.owner);
  // A policy change re-resolves only the rooms it decides differently; the others keep the
  // version they were resolved with until their next change. So an older version on a row
  // whose every value, source and class the active policy reproduces is what it should be.
  if (differences.length > 0) compare('policy_version', row.policy_version, resolved.policyVersion);
  return differences;
}

function storedSources(row: CheckRow): RoomSources {
  const parsed = storedSourcesSchema.parse({ legacy: row.legacy, cloud: row.cloud, legacy_hotel: row.legacy_hotel });
  return { legacy: parsed.legacy, cloud: parsed.cloud, legacyHotel: parsed.legacy_hotel };
}

/** Walks unified_rooms (keyset pages) with each room's stored sources; rooms with sources and no unified row count too. */
export async function checkUnifiedRooms(db: Kysely<UnifiedDatabase>, policy: Policy, options: CheckOptions = {}): Promise<CheckResult> {
  const pageSize = options.pageSize ?? 1_000;
  let rooms = 0;
  let differences = 0;
  let roomsDiffering = 0;
  const report = (found: readonly RoomDifference[]) => {
    if (found.length === 0) return;
    roomsDiffering += 1;
    differences += found.length;
    for (const difference of found) options.onDifference?.(difference);
  };
  const only = options.room;
  const hotel = options.hotel;
  let after: { hotel_code: string; room_code: string } | null = null;
  for (;;) {
    const where: RawBuilder<unknown> = only
      ? sql`WHERE u.hotel_code = ${only.hotelCode} AND u.room_code = ${only.roomCode}`
      : hotel !== undefined
        ? after === null
          ? sql`WHERE u.hotel_code = ${hotel}`
          : sql`WHERE u.hotel_code = ${hotel} AND u.room_code > ${after.room_code}`
        : after === null
          ? sql``
          : sql`WHERE (u.hotel_code, u.room_code) > (${after.hotel_code}, ${after.room_code})`;
    const { rows }: { rows: CheckRow[] } = await sql<CheckRow>`
      SELECT u.hotel_code, u.room_code, u.hotel_class, u.room_type, u.rate_minor::text AS rate_minor, u.currency, u.availability, u.status,
             u.rate_source, u.availability_source, u.room_type_source, u.status_source, u.availability_owner, u.policy_version,
             s.hotel_code IS NOT NULL AS has_sources, s.legacy, s.cloud, s.legacy_hotel
        FROM unified_rooms u
        LEFT JOIN room_sources s ON s.hotel_code = u.hotel_code AND s.room_code = u.room_code
        ${where}
       ORDER BY u.hotel_code, u.room_code
       LIMIT ${pageSize}`.execute(db);
    for (const row of rows) {
      rooms += 1;
      const room = roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code });
      if (!row.has_sources) {
        report([{ room, column: 'row', unified: 'a unified row', recomputed: 'no stored sources (room_sources has no row)' }]);
        continue;
      }
      let sources: RoomSources;
      try {
        sources = storedSources(row);
      } catch (error) {
        report([{ room, column: 'row', unified: 'a unified row', recomputed: `stored sources unreadable: ${(error as Error).message.split('\n')[0] ?? ''}` }]);
        continue;
      }
      report(compareRow(row, resolveRoom(policy, sources)));
    }
    options.onProgress?.(rooms);
    const last = rows.at(-1);
    if (only || last === undefined || rows.length < pageSize) break;
    after = { hotel_code: last.hotel_code, room_code: last.room_code };
  }
  // Stored sources with no unified row: the apply writes both in one transaction, so one was removed.
  const orphanWhere = only
    ? sql`AND s.hotel_code = ${only.hotelCode} AND s.room_code = ${only.roomCode}`
    : hotel !== undefined
      ? sql`AND s.hotel_code = ${hotel}`
      : sql``;
  const orphans = await sql<{ hotel_code: string; room_code: string }>`
    SELECT s.hotel_code, s.room_code FROM room_sources s
     WHERE NOT EXISTS (SELECT 1 FROM unified_rooms u WHERE u.hotel_code = s.hotel_code AND u.room_code = s.room_code) ${orphanWhere}
     ORDER BY s.hotel_code, s.room_code`.execute(db);
  for (const orphan of orphans.rows) {
    const room = roomKeyText({ hotelCode: orphan.hotel_code, roomCode: orphan.room_code });
    report([{ room, column: 'row', unified: 'no unified row', recomputed: 'a row from its stored sources' }]);
  }
  return { rooms, differences, roomsDiffering };
}

export function describeDifference(difference: RoomDifference): string {
  return `${difference.room} ${difference.column}: unified ${difference.unified}, recomputed ${difference.recomputed}`;
}
