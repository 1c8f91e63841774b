import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import { roomKeyText, type RoomKey } from '../domain/room.js';
import { legacyHotelSchema, sourceRoomValuesSchema, type LegacyHotel } from '../mapping/change.js';
import type { Conflict } from '../merge/apply-changes.js';
import { noSources, type RoomSources } from '../merge/field-values.js';
import type { ResolvedRoom } from '../merge/resolve.js';
import type { UnifiedDatabase } from './schema.js';
import { asPreparedStatement } from './connect.js';
import type { AppliedUpTo } from './unapplied-repository.js';
import { chainRows } from '../audit/chain.js';
import type { FieldHistoryEntry } from '../audit/field-history.js';
import { fieldNames, type FieldName } from '../domain/room.js';

/**
 * The apply transaction in three statements (locks, reads, writes) instead of one per
 * table: each round trip costs the worker and Postgres about as much as the work itself.
 * Values travel as bound JSON parameters, never as SQL text, so each statement's text is
 * fixed and runs as a named prepared statement: parsed and planned once per connection.
 */

// Advisory lock namespaces (first key of the two-int form), so room and hotel locks never collide.
export const roomLockSpace = 7101;
export const hotelLockSpace = 7102;
/** One key (0): every apply holds it shared, `policy apply` exclusively while it records a new policy. */
export const policyLockSpace = 7103;

type Trx = Transaction<UnifiedDatabase>;

/**
 * Serializes writers of the same rooms (a timed-out attempt may still run when its retry
 * starts; a retiring room-group workflow may hold changes of a room) and holds each hotel
 * shared, so the legacy connector's exclusive lock orders property changes against it.
 * Keys in sorted order, rooms before hotels, the policy last: no two batches wait on each
 * other in a cycle. The policy is held shared the same way, so a newly recorded policy waits
 * for the applies in flight and every later apply reads it.
 * Its own statement: the reads after it must see what the lock's previous holder committed.
 */
export async function lockRoomsAndHotels(trx: Trx, rooms: readonly RoomKey[]): Promise<void> {
  const roomKeys = [...new Set(rooms.map(roomKeyText))].sort();
  const hotelCodes = [...new Set(rooms.map((room) => room.hotelCode))].sort();
  if (roomKeys.length === 0) return;
  const locks = sql`
    SELECT
      (SELECT count(pg_advisory_xact_lock(${roomLockSpace}, hashtext(k))) FROM unnest(${roomKeys}::text[]) WITH ORDINALITY AS r(k, n)) AS rooms,
      (SELECT count(pg_advisory_xact_lock_shared(${hotelLockSpace}, hashtext(c))) FROM unnest(${hotelCodes}::text[]) WITH ORDINALITY AS h(c, n)) AS hotels,
      (SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared(${policyLockSpace}, 0)) AS p) AS policy`;
  await trx.executeQuery(asPreparedStatement(locks.compile(trx)));
}

const sourceRecordSchema = z.object({ position: z.string(), commitTime: z.string(), values: sourceRoomValuesSchema.nullable(), reason: z.string().optional() });
/** A room_sources row as JSON: what the merge reads for a room. */
export const storedRoomSchema = z.object({
  hotel_code: z.string(),
  room_code: z.string(),
  legacy: sourceRecordSchema.nullable(),
  cloud: sourceRecordSchema.nullable(),
  legacy_hotel: legacyHotelSchema.nullable(),
});
const storedHotelSchema = z.object({
  hotel_code: z.string(),
  present: z.boolean(),
  mgmt_typ: z.string(),
  currency: z.string(),
  position: z.string(),
  commit_time: z.string(),
  reason: z.string().nullable(),
});

export interface MergeInputs {
  /** Each room's stored source values, keyed by `roomKeyText`; a room never seen has none. */
  readonly rooms: Map<string, RoomSources>;
  /** The legacy property of each hotel, as the legacy connector last recorded it. */
  readonly hotels: Map<string, LegacyHotel>;
  /** Each room's newest audit row hash: where its chain goes on. */
  readonly chainHeads: Map<string, string>;
  /** Each room's newest field history row per field: what the unified row shows now. */
  readonly latestFields: Map<string, Map<FieldName, FieldHistoryEntry>>;
  /** The policy version each room's unified row was resolved with; a room without a row has none. */
  readonly resolvedWith: Map<string, string>;
  /** The newest policy_versions row (the active policy); null while none is recorded. */
  readonly activePolicy: { readonly id: string; readonly version: string } | null;
}

const fieldValueSchema = z.union([z.object({ rate_minor: z.number(), currency: z.string() }), z.number(), z.string()]).nullable();
const fieldHeadSchema = z.object({
  field: z.enum(fieldNames),
  value: fieldValueSchema,
  source: z.enum(['legacy', 'cloud']).nullable(),
  rule: z.string(),
  policy_version: z.string(),
  hotel_class: z.string(),
  legacy_value: fieldValueSchema,
  cloud_value: fieldValueSchema,
  source_position: z.string().nullable(),
  source_commit_time: z.string().nullable(),
});
/** room_sources.field_heads: the room's newest field history entry per field. */
const fieldHeadsSchema = z.record(z.string(), fieldHeadSchema);
const storedHeadsSchema = z.object({ chain_head: z.string().nullable(), field_heads: fieldHeadsSchema });
const resolvedWithSchema = z.object({ hotel_code: z.string(), room_code: z.string(), policy_version: z.string() });
const activePolicySchema = z.object({ id: z.string(), version: z.string() }).nullable();
// Built once: zod compiles a schema on its first parse, so one built per apply is compiled per apply.
const storedRoomsSchema = z.array(storedRoomSchema.extend(storedHeadsSchema.shape));
const storedHotelsSchema = z.array(storedHotelSchema);
const resolvedWithListSchema = z.array(resolvedWithSchema);

/**
 * Everything the merge reads for the batch, in one round trip. The chain and field heads come
 * from the room_sources row (kept there by writeApplied under the room lock), never from the
 * audit tables: their monthly partitions grow with every month kept.
 */
export async function loadMergeInputs(trx: Trx, rooms: readonly RoomKey[]): Promise<MergeInputs> {
  const hotelCodes = [...new Set(rooms.map((room) => room.hotelCode))];
  const hotelsOf = rooms.map((room) => room.hotelCode);
  const roomsOf = rooms.map((room) => room.roomCode);
  const read = sql<{ rooms: unknown; hotels: unknown; versions: unknown; policy: unknown }>`
    SELECT
      (SELECT coalesce(json_agg(json_build_object('hotel_code', s.hotel_code, 'room_code', s.room_code, 'legacy', s.legacy, 'cloud', s.cloud, 'legacy_hotel', s.legacy_hotel,
                                                  'chain_head', s.chain_head, 'field_heads', s.field_heads)), '[]'::json)
         FROM room_sources s
         JOIN unnest(${hotelsOf}::text[], ${roomsOf}::text[]) AS k(hotel_code, room_code)
           ON k.hotel_code = s.hotel_code AND k.room_code = s.room_code) AS rooms,
      (SELECT coalesce(json_agg(json_build_object('hotel_code', h.hotel_code, 'present', h.present, 'mgmt_typ', h.mgmt_typ, 'currency', h.currency,
                                                  'position', h.position, 'commit_time', to_char(h.commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'reason', h.reason)), '[]'::json)
         FROM legacy_hotels h WHERE h.hotel_code = ANY(${hotelCodes}::text[])) AS hotels,
      (SELECT coalesce(json_agg(json_build_object('hotel_code', u.hotel_code, 'room_code', u.room_code, 'policy_version', u.policy_version)), '[]'::json)
         FROM unified_rooms u
         JOIN unnest(${hotelsOf}::text[], ${roomsOf}::text[]) AS k(hotel_code, room_code)
           ON k.hotel_code = u.hotel_code AND k.room_code = u.room_code) AS versions,
      (SELECT json_build_object('id', p.id::text, 'version', p.version) FROM policy_versions p ORDER BY p.id DESC LIMIT 1) AS policy`;
  const { rows } = await trx.executeQuery(asPreparedStatement(read.compile(trx)));
  const row = rows[0];
  const loaded = new Map<string, RoomSources>(rooms.map((room) => [roomKeyText(room), noSources]));
  const chainHeads = new Map<string, string>();
  const latestFields = new Map<string, Map<FieldName, FieldHistoryEntry>>();
  const storedKeys = new Set<string>();
  for (const stored of storedRoomsSchema.parse(row?.rooms ?? [])) {
    const key = roomKeyText({ hotelCode: stored.hotel_code, roomCode: stored.room_code });
    storedKeys.add(key);
    loaded.set(key, { legacy: stored.legacy, cloud: stored.cloud, legacyHotel: stored.legacy_hotel });
    if (stored.chain_head !== null) chainHeads.set(key, stored.chain_head);
    latestFields.set(key, new Map(Object.values(stored.field_heads).map((entry) => [entry.field, entry])));
  }
  const hotels = new Map<string, LegacyHotel>();
  for (const hotel of storedHotelsSchema.parse(row?.hotels ?? [])) {
    hotels.set(hotel.hotel_code, {
      hotelCode: hotel.hotel_code,
      present: hotel.present,
      mgmtType: hotel.mgmt_typ,
      currency: hotel.currency,
      position: hotel.position,
      commitTime: hotel.commit_time,
      ...(hotel.reason === null ? {} : { reason: hotel.reason }),
    });
  }
  const unseen = rooms.filter((room) => !storedKeys.has(roomKeyText(room)));
  if (unseen.length > 0) await loadHeadsFromAudit(trx, unseen, chainHeads, latestFields);
  const resolvedWith = new Map<string, string>();
  for (const stored of resolvedWithListSchema.parse(row?.versions ?? [])) {
    resolvedWith.set(roomKeyText({ hotelCode: stored.hotel_code, roomCode: stored.room_code }), stored.policy_version);
  }
  return { rooms: loaded, hotels, chainHeads, latestFields, resolvedWith, activePolicy: activePolicySchema.parse(row?.policy ?? null) };
}

const chainHeadsSchema = z.array(z.object({ hotel_code: z.string(), room_code: z.string(), row_hash: z.string().nullable() }));
const storedFieldsSchema = z.array(fieldHeadSchema.extend({ hotel_code: z.string(), room_code: z.string() }));

/**
 * The heads of rooms with no room_sources row, from the audit tables themselves: a room's
 * first apply (nothing to find, one look), or audit rows written without the apply (history
 * loaded by hand before the room's first change). Every later apply reads room_sources only.
 */
async function loadHeadsFromAudit(
  trx: Trx,
  rooms: readonly RoomKey[],
  chainHeads: Map<string, string>,
  latestFields: Map<string, Map<FieldName, FieldHistoryEntry>>,
): Promise<void> {
  const hotelsOf = rooms.map((room) => room.hotelCode);
  const roomsOf = rooms.map((room) => room.roomCode);
  const { rows } = await sql<{ heads: unknown; fields: unknown }>`
    SELECT
      (SELECT coalesce(json_agg(json_build_object('hotel_code', k.hotel_code, 'room_code', k.room_code, 'row_hash', head.row_hash)), '[]'::json)
         FROM unnest(${hotelsOf}::text[], ${roomsOf}::text[]) AS k(hotel_code, room_code)
         -- The newest row, live or, once its months are archived (audit archive), the archived head.
         CROSS JOIN LATERAL (
           SELECT row_hash FROM (
             (SELECT a.id, a.row_hash FROM conflict_audit a
               WHERE a.hotel_code = k.hotel_code AND a.room_code = k.room_code
               ORDER BY a.id DESC LIMIT 1)
             UNION ALL
             (SELECT h.head_id, h.head_hash FROM conflict_audit_archived_heads h
               WHERE h.hotel_code = k.hotel_code AND h.room_code = k.room_code
               ORDER BY h.head_id DESC LIMIT 1)) newest
            ORDER BY id DESC LIMIT 1) head) AS heads,
      (SELECT coalesce(json_agg(json_build_object(
                'hotel_code', k.hotel_code, 'room_code', k.room_code, 'field', f.field, 'value', f.value, 'source', f.source, 'rule', f.rule,
                'policy_version', f.policy_version, 'hotel_class', f.hotel_class, 'legacy_value', f.legacy_value, 'cloud_value', f.cloud_value,
                'source_position', f.source_position, 'source_commit_time', to_char(f.source_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))), '[]'::json)
         FROM unnest(${hotelsOf}::text[], ${roomsOf}::text[]) AS k(hotel_code, room_code)
         CROSS JOIN unnest(${[...fieldNames]}::text[]) AS fields(name)
         CROSS JOIN LATERAL (
           SELECT h.* FROM unified_field_history h
            WHERE h.hotel_code = k.hotel_code AND h.room_code = k.room_code AND h.field = fields.name
            ORDER BY h.id DESC LIMIT 1) f) AS fields`.execute(trx);
  const row = rows[0];
  for (const head of chainHeadsSchema.parse(row?.heads ?? [])) {
    if (head.row_hash !== null) chainHeads.set(roomKeyText({ hotelCode: head.hotel_code, roomCode: head.room_code }), head.row_hash);
  }
  for (const stored of storedFieldsSchema.parse(row?.fields ?? [])) {
    const key = roomKeyText({ hotelCode: stored.hotel_code, roomCode: stored.room_code });
    const fields = latestFields.get(key) ?? new Map<FieldName, FieldHistoryEntry>();
    const { hotel_code: _hotel, room_code: _room, ...entry } = stored;
    fields.set(stored.field, entry);
    latestFields.set(key, fields);
  }
}

export interface UnifiedRoomWrite {
  readonly room: RoomKey;
  readonly resolved: ResolvedRoom;
  readonly sources: RoomSources;
  /** Commit time of the newest change this batch applied to the room; null keeps the stored one. */
  readonly lastChangeCommitTime: string | null;
}

export interface RoomConflict {
  readonly room: RoomKey;
  readonly conflict: Conflict;
}

export interface FieldHistoryWrite {
  readonly room: RoomKey;
  readonly entries: readonly FieldHistoryEntry[];
}

export interface AppliedWrites {
  readonly writes: readonly UnifiedRoomWrite[];
  readonly conflicts: readonly RoomConflict[];
  /** Fields whose value or provenance moved, per room. */
  readonly fieldHistory: readonly FieldHistoryWrite[];
  /** Each room's newest audit row hash before this batch. */
  readonly chainHeads: ReadonlyMap<string, string>;
  /** Each room's newest field history entry per field before this batch. */
  readonly latestFields: ReadonlyMap<string, ReadonlyMap<FieldName, FieldHistoryEntry>>;
  /** When the batch was applied: the audit rows' resolved_at and the history's applied_at. */
  readonly appliedAt: string;
  readonly policyVersion: string;
  /** What the batch has taken, per room and source: those changes leave the unapplied ledger. */
  readonly taken: readonly AppliedUpTo[];
}

/**
 * One statement for every write of the batch: each source's latest value, the unified
 * row with per-field provenance, the audit rows, and the ledger entries it took.
 * Returns the number of audit rows appended (a replayed batch appends none).
 */
export async function writeApplied(trx: Trx, applied: AppliedWrites): Promise<number> {
  const unchained = applied.conflicts.map(({ room, conflict }) => ({
    hotel_code: room.hotelCode,
    room_code: room.roomCode,
    field: conflict.field,
    legacy_value: conflict.legacyValue,
    cloud_value: conflict.cloudValue,
    winning_value: conflict.winningValue,
    winning_source: conflict.winningSource,
    rule: conflict.rule,
    policy_version: applied.policyVersion,
    hotel_class: conflict.hotelClass,
    legacy_position: conflict.legacyPosition,
    legacy_hotel_position: conflict.legacyHotelPosition,
    cloud_position: conflict.cloudPosition,
    trigger_source: conflict.triggerSource,
    trigger_position: conflict.triggerPosition,
    resolved_at: applied.appliedAt,
  }));
  // Each room's rows go on from its chain head, in the merge's order.
  const byRoom = new Map<string, typeof unchained>();
  for (const row of unchained) {
    const key = roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code });
    byRoom.set(key, [...(byRoom.get(key) ?? []), row]);
  }
  const conflicts = [...byRoom.entries()].flatMap(([key, rows]) => chainRows(applied.chainHeads.get(key) ?? null, rows));
  // The heads move with the rows, on the room_sources row written in the same statement.
  const newChainHeads = new Map(applied.chainHeads);
  for (const row of conflicts) newChainHeads.set(roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code }), row.row_hash);
  const newFieldHeads = new Map<string, Record<string, FieldHistoryEntry>>();
  for (const { room, entries } of applied.fieldHistory) {
    const key = roomKeyText(room);
    const heads = Object.fromEntries(applied.latestFields.get(key) ?? []);
    for (const entry of entries) heads[entry.field] = entry;
    newFieldHeads.set(key, heads);
  }
  const written = new Set(applied.writes.map(({ room }) => roomKeyText(room)));
  const unwritten = [...byRoom.keys(), ...newFieldHeads.keys()].find((key) => !written.has(key));
  // applyChanges raises conflicts only with a source change or a re-resolution, and both are written.
  if (unwritten !== undefined) throw new Error(`room ${unwritten} has audit rows or field history but no room_sources write: its heads would go stale`);
  const writes = applied.writes.map(({ room, resolved, sources, lastChangeCommitTime }) => ({
    hotel_code: room.hotelCode,
    room_code: room.roomCode,
    legacy: sources.legacy,
    cloud: sources.cloud,
    legacy_hotel: sources.legacyHotel,
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
    legacy_position: sources.legacy?.position ?? null,
    cloud_position: sources.cloud?.position ?? null,
    legacy_commit_time: sources.legacy?.commitTime ?? null,
    cloud_commit_time: sources.cloud?.commitTime ?? null,
    last_change_commit_time: lastChangeCommitTime,
    chain_head: newChainHeads.get(roomKeyText(room)) ?? null,
    field_heads: newFieldHeads.get(roomKeyText(room)) ?? Object.fromEntries(applied.latestFields.get(roomKeyText(room)) ?? []),
  }));
  const history = applied.fieldHistory.flatMap(({ room, entries }) =>
    entries.map((entry) => ({ hotel_code: room.hotelCode, room_code: room.roomCode, ...entry, applied_at: applied.appliedAt })),
  );
  const taken = applied.taken.map((entry) => ({ hotel_code: entry.room.hotelCode, room_code: entry.room.roomCode, source: entry.source, position: entry.position }));
  if (writes.length === 0 && conflicts.length === 0 && taken.length === 0 && history.length === 0) return 0;
  const write = sql<{ appended: string }>`
    WITH w AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(writes)}::jsonb) AS w(
        hotel_code text, room_code text, legacy jsonb, cloud jsonb, legacy_hotel jsonb,
        hotel_class text, room_type text, rate_minor bigint, currency text, availability integer, status text,
        rate_source text, availability_source text, room_type_source text, status_source text, availability_owner text, policy_version text,
        legacy_position text, cloud_position text, legacy_commit_time timestamptz, cloud_commit_time timestamptz, last_change_commit_time timestamptz,
        chain_head text, field_heads jsonb)
    ),
    saved AS (
      INSERT INTO room_sources (hotel_code, room_code, legacy, cloud, legacy_hotel, chain_head, field_heads, updated_at)
      SELECT hotel_code, room_code, legacy, cloud, legacy_hotel, chain_head, field_heads, now() FROM w
      ON CONFLICT (hotel_code, room_code) DO UPDATE
        SET legacy = excluded.legacy, cloud = excluded.cloud, legacy_hotel = excluded.legacy_hotel,
            chain_head = excluded.chain_head, field_heads = excluded.field_heads, updated_at = excluded.updated_at
    ),
    unified AS (
      INSERT INTO unified_rooms (
        hotel_code, room_code, hotel_class, room_type, rate_minor, currency, availability, status,
        rate_source, availability_source, room_type_source, status_source, availability_owner, policy_version, updated_at,
        legacy_position, cloud_position, legacy_commit_time, cloud_commit_time, last_change_commit_time)
      SELECT hotel_code, room_code, hotel_class, room_type, rate_minor, currency, availability, status,
             rate_source, availability_source, room_type_source, status_source, availability_owner, policy_version, now(),
             legacy_position, cloud_position, legacy_commit_time, cloud_commit_time, last_change_commit_time
        FROM w
      ON CONFLICT (hotel_code, room_code) DO UPDATE SET
        hotel_class = excluded.hotel_class, room_type = excluded.room_type, rate_minor = excluded.rate_minor, currency = excluded.currency,
        availability = excluded.availability, status = excluded.status, rate_source = excluded.rate_source,
        availability_source = excluded.availability_source, room_type_source = excluded.room_type_source, status_source = excluded.status_source,
        availability_owner = excluded.availability_owner, policy_version = excluded.policy_version, updated_at = excluded.updated_at,
        legacy_position = excluded.legacy_position, cloud_position = excluded.cloud_position,
        legacy_commit_time = excluded.legacy_commit_time, cloud_commit_time = excluded.cloud_commit_time,
        last_change_commit_time = coalesce(excluded.last_change_commit_time, unified_rooms.last_change_commit_time)
    ),
    audit AS (
      INSERT INTO conflict_audit (
        hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
        hotel_class, legacy_position, legacy_hotel_position, cloud_position, trigger_source, trigger_position, resolved_at, prev_hash, row_hash)
      SELECT hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
             hotel_class, legacy_position, legacy_hotel_position, cloud_position, trigger_source, trigger_position, resolved_at, prev_hash, row_hash
        -- A set-returning function yields its rows in array order: ids follow the merge's order.
        FROM jsonb_to_recordset(${JSON.stringify(conflicts)}::jsonb) AS a(
          hotel_code text, room_code text, field text, legacy_value jsonb, cloud_value jsonb, winning_value jsonb, winning_source text,
          rule text, policy_version text, hotel_class text, legacy_position text, legacy_hotel_position text, cloud_position text,
          trigger_source text, trigger_position text, resolved_at timestamptz, prev_hash text, row_hash text)
      -- Defence in depth: the position guard already drops replays.
      ON CONFLICT DO NOTHING
      RETURNING 1
    ),
    history AS (
      INSERT INTO unified_field_history (
        hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value,
        source_position, source_commit_time, applied_at)
      SELECT hotel_code, room_code, field, coalesce(value, 'null'::jsonb), source, rule, policy_version, hotel_class,
             coalesce(legacy_value, 'null'::jsonb), coalesce(cloud_value, 'null'::jsonb), source_position, source_commit_time, applied_at
        FROM jsonb_to_recordset(${JSON.stringify(history)}::jsonb) AS h(
          hotel_code text, room_code text, field text, value jsonb, source text, rule text, policy_version text, hotel_class text,
          legacy_value jsonb, cloud_value jsonb, source_position text, source_commit_time timestamptz, applied_at timestamptz)
    ),
    cleared AS (
      DELETE FROM unapplied_changes u
       USING jsonb_to_recordset(${JSON.stringify(taken)}::jsonb) AS t(hotel_code text, room_code text, source text, position text)
       WHERE u.hotel_code = t.hotel_code AND u.room_code = t.room_code AND u.source = t.source AND u.position <= t.position
    )
    SELECT count(*)::text AS appended FROM audit`;
  const { rows } = await trx.executeQuery(asPreparedStatement(write.compile(trx)));
  return Number(rows[0]?.appended ?? 0);
}
