// What the bench's own replication consumers (the naive baseline and the floor's senders) share:
// the properties a room row needs to map, the row's mapping, and their own publication and slot.
import type pg from 'pg';
import type { RoomKey, SourceName } from '../src/domain/room.js';
import type { SourceRoomValues } from '../src/mapping/change.js';
import { mapCloudRoom } from '../src/mapping/cloud.js';
import { mapLegacyRoom } from '../src/mapping/legacy.js';

export function roomTableOf(source: SourceName): string {
  return source === 'legacy' ? 'public.htl_room_inv' : 'public.room_inventory';
}

/** What a consumer needs from the properties: read once at start (the load never changes them). */
export async function loadProperties(pool: pg.Pool, source: SourceName): Promise<Map<string, string>> {
  if (source === 'legacy') {
    const { rows } = await pool.query<{ code: string; currency: string }>('SELECT upper(trim(prop_cd)) AS code, crncy_cd AS currency FROM htl_property');
    return new Map(rows.map((row) => [row.code, row.currency]));
  }
  const { rows } = await pool.query<{ id: string; code: string }>('SELECT id::text, upper(external_code) AS code FROM properties');
  return new Map(rows.map((row) => [row.id, row.code]));
}

/** A room row as the project maps it; null for a row that does not map. */
export function mapRoomRow(
  source: SourceName,
  row: Record<string, unknown>,
  properties: Map<string, string>,
): { room: RoomKey; values: SourceRoomValues | null } | null {
  if (source === 'legacy') {
    const mapped = mapLegacyRoom(row);
    if (!mapped.ok) return null;
    const values = mapped.value.values;
    return { room: mapped.value.room, values: values && { ...values, currency: properties.get(mapped.value.room.hotelCode) ?? null } };
  }
  const mapped = mapCloudRoom(row, (id) => properties.get(id));
  return mapped.ok ? mapped.value : null;
}

/** The consumer's own publication of the room table and its slot: kept when resuming, else made anew at the current WAL position. */
export async function prepareSlot(pool: pg.Pool, options: { publication: string; slotName: string; source: SourceName; resume: boolean }): Promise<void> {
  const { rows } = await pool.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [options.publication]);
  if (rows.length === 0) await pool.query(`CREATE PUBLICATION ${options.publication} FOR TABLE ${roomTableOf(options.source)}`);
  if (options.resume) {
    const existing = await pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [options.slotName]);
    if (existing.rows.length > 0) return;
  }
  await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [options.slotName]);
  // A new slot starts at the current WAL position: only load written from now on is replayed.
  await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [options.slotName]);
}
