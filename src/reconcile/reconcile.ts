import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { z } from 'zod';
import { ChangeSender, temporalDelivery } from '../cdc/change-sender.js';
import { createSlotWithSnapshot } from '../cdc/slot.js';
import { quoteTable, readInSnapshot, type SnapshotQuery } from '../cdc/snapshot.js';
import type { SourceDescriptor } from '../cdc/source-descriptor.js';
import { UnappliedLedger } from '../cdc/unapplied-ledger.js';
import { storedRoomSchema } from '../db/apply-statements.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { lsnToBigInt, makePosition } from '../domain/position.js';
import { normalizeCode, roomKeyText, type RoomKey, type SourceName } from '../domain/room.js';
import { sourceRoomValuesSchema, type SourceChange } from '../mapping/change.js';
import { mapCloudProperty, mapCloudRoom, mapCloudRoomKey } from '../mapping/cloud.js';
import { mapLegacyProperty, mapLegacyRoom, mapLegacyRoomKey } from '../mapping/legacy.js';
import { createLogger, type Logger } from '../observability/logger.js';
import {
  compareRoom,
  countVerdict,
  differingVerdicts,
  emptyCounts,
  type FieldDifference,
  type RoomComparison,
  type SnapshotHotel,
  type SnapshotRoomRow,
  type Verdict,
  type VerdictCounts,
} from './compare.js';

/**
 * `room-sync reconcile`: reads each source in one exported snapshot of a temporary slot (its
 * position known exactly), maps every row with the project's mapping, compares it with
 * room_sources (src/reconcile/compare.ts), confirms each difference once the pipeline has
 * applied everything up to the snapshot, and with `repair` delivers the snapshot's row through
 * the room's workflow as a change at the snapshot's position. Memory holds one page of rows,
 * the source's properties and the rooms that differ; the snapshot's rooms wait in a temporary
 * table of the unified database, joined there with room_sources.
 */

export interface ReconcileSourceAccess {
  /** The source as the connector reaches it (its role may create replication slots). */
  readonly descriptor: SourceDescriptor;
  readonly pool: pg.Pool;
}

export interface ReconcileDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly source: (source: SourceName) => Promise<ReconcileSourceAccess>;
  /** Needed by `repair` only: the room workflows' client and task queue. */
  readonly temporal?: () => Promise<{ readonly client: Client; readonly taskQueue: string }>;
  readonly log?: Logger;
  /** Progress for a person (stderr). */
  readonly onProgress?: (message: string) => void;
}

export interface ReconcileOptions {
  readonly sources: readonly SourceName[];
  /** One hotel only (its unified code). */
  readonly hotel?: string;
  readonly repair: boolean;
  /** How long a difference may wait for the pipeline to catch up with the snapshot before it counts as confirmed. */
  readonly confirmTimeoutMs?: number;
  /** How long a repair may take to be applied by the room workflows. */
  readonly repairTimeoutMs?: number;
  /** Rooms listed in the report per source (all are counted). */
  readonly listLimit?: number;
  readonly pageSize?: number;
}

export interface RoomReport {
  readonly room: string;
  /** As first seen, and as confirmed (after the pipeline applied what it held). */
  readonly firstSeen: Verdict;
  readonly verdict: Verdict;
  readonly differences: readonly FieldDifference[];
  /** After a repair: what the room compares as now (null without a repair). */
  readonly afterRepair: Verdict | null;
}

export interface SourceReport {
  readonly source: SourceName;
  readonly snapshotPosition: string;
  readonly startedAt: string;
  readonly counts: VerdictCounts;
  /** Rooms seen differing once and found equal or newer when compared again: in-flight changes. */
  readonly inFlight: number;
  /** False when the source's stream did not reach the snapshot's position within the wait: differences are then unconfirmed. */
  readonly streamCaughtUp: boolean;
  readonly repaired: number;
  /** Rooms still differing at the end. */
  readonly unresolved: number;
  readonly rooms: readonly RoomReport[];
}

/** Reason recorded on repaired values; the field history's and the audit's rules carry it. */
export function repairReason(verdict: Verdict): string {
  return `reconcile repair: ${verdict}`;
}

const snapshotRowSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('row'), values: sourceRoomValuesSchema.nullable() }),
  z.object({ kind: z.literal('unmappable'), reason: z.string() }),
]);
const joinedRowSchema = storedRoomSchema.extend({ rows: z.array(snapshotRowSchema).nullable() });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Temporary slot names are server-wide: the database, the process and a random tail keep them apart. */
function temporarySlotName(descriptor: SourceDescriptor): string {
  const tail = `${process.pid}_${randomBytes(3).toString('hex')}`;
  return `room_sync_reconcile_${descriptor.source}_${descriptor.databaseName}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63 - tail.length - 1)
    .concat('_', tail);
}

/** Only an ASCII code may be filtered in SQL: upper() and JavaScript's toUpperCase agree there. The mapping filters again. */
function sqlHotelFilter(hotel: string | undefined): string | undefined {
  return hotel !== undefined && /^[\x20-\x7e]*$/.test(hotel) ? hotel : undefined;
}

function snapshotQueries(source: SourceName, hotel: string | undefined): SnapshotQuery[] {
  const filter = sqlHotelFilter(hotel);
  const where = (condition: string) => (filter === undefined ? { text: '', values: [] } : { text: ` WHERE ${condition}`, values: [filter] });
  if (source === 'legacy') {
    const property = where('upper(trim(prop_cd)) = $1');
    const room = where('upper(trim(prop_cd)) = $1');
    return [
      { table: 'public.htl_property', text: `SELECT * FROM ${quoteTable('public.htl_property')}${property.text}`, values: property.values },
      { table: 'public.htl_room_inv', text: `SELECT * FROM ${quoteTable('public.htl_room_inv')}${room.text}`, values: room.values },
    ];
  }
  const property = where('upper(trim(external_code)) = $1');
  const room = where(`property_id IN (SELECT id FROM ${quoteTable('public.properties')} WHERE upper(trim(external_code)) = $1)`);
  return [
    { table: 'public.properties', text: `SELECT * FROM ${quoteTable('public.properties')}${property.text}`, values: property.values },
    { table: 'public.room_inventory', text: `SELECT * FROM ${quoteTable('public.room_inventory')}${room.text}`, values: room.values },
  ];
}

interface Suspect {
  readonly room: RoomKey;
  readonly rows: readonly SnapshotRoomRow[];
  readonly hotel: SnapshotHotel | null | 'unknown';
  firstSeen: Verdict;
  comparison: RoomComparison;
}

interface SnapshotSide {
  readonly rows: readonly SnapshotRoomRow[];
  readonly hotel: SnapshotHotel | null | 'unknown';
}

function compareStored(source: SourceName, snapshotPosition: string, side: SnapshotSide, stored: z.infer<typeof storedRoomSchema> | null): RoomComparison {
  return compareRoom({
    source,
    snapshotPosition,
    rows: side.rows,
    stored: stored?.[source] ?? null,
    ...(source === 'legacy' && side.hotel !== 'unknown' ? { hotel: { snapshot: side.hotel, stored: stored?.legacy_hotel ?? null } } : {}),
  });
}

/** Progress at most every 2 s. */
function throttled(onProgress: ((message: string) => void) | undefined): (message: () => string) => void {
  let next = Date.now() + 2_000;
  return (message) => {
    if (!onProgress || Date.now() < next) return;
    next = Date.now() + 2_000;
    onProgress(message());
  };
}

export async function reconcile(deps: ReconcileDependencies, options: ReconcileOptions): Promise<SourceReport[]> {
  const reports: SourceReport[] = [];
  for (const source of options.sources) reports.push(await reconcileSource(deps, source, options));
  return reports;
}

export async function reconcileSource(deps: ReconcileDependencies, source: SourceName, options: ReconcileOptions): Promise<SourceReport> {
  const { db } = deps;
  const pageSize = options.pageSize ?? 1_000;
  const progress = throttled(deps.onProgress);
  const hotelFilter = options.hotel === undefined ? undefined : normalizeCode(options.hotel);
  const access = await deps.source(source);
  const startedAt = new Date().toISOString();
  const exported = await createSlotWithSnapshot(access.descriptor.databaseUrl, temporarySlotName(access.descriptor), { temporary: true });
  const snapshotPosition = makePosition(exported.consistentPoint, 0);
  deps.onProgress?.(`${source}: snapshot at ${exported.consistentPoint} (position ${snapshotPosition})`);
  deps.log?.info('reconcile snapshot taken', { source, consistentPoint: exported.consistentPoint });

  const counts = emptyCounts();
  const suspects: Suspect[] = [];
  await db.connection().execute(async (conn) => {
    await sql`CREATE TEMPORARY TABLE IF NOT EXISTS reconcile_snapshot_rooms (hotel_code text, room_code text, rows jsonb NOT NULL, PRIMARY KEY (hotel_code, room_code))`.execute(conn);
    await sql`TRUNCATE reconcile_snapshot_rooms`.execute(conn);
    const hotels = new Map<string, SnapshotHotel | 'unknown'>();
    const cloudHotelOf = new Map<string, string>();
    try {
      // 1. The source as of the snapshot, into the temporary table a page at a time.
      let page: { hotel_code: string; room_code: string; row: SnapshotRoomRow }[] = [];
      const flush = async () => {
        if (page.length === 0) return;
        await sql`
          INSERT INTO reconcile_snapshot_rooms (hotel_code, room_code, rows)
          SELECT r.hotel_code, r.room_code, jsonb_agg(r.row) FROM jsonb_to_recordset(${JSON.stringify(page)}::jsonb) AS r(hotel_code text, room_code text, row jsonb)
           GROUP BY r.hotel_code, r.room_code
          ON CONFLICT (hotel_code, room_code) DO UPDATE SET rows = reconcile_snapshot_rooms.rows || excluded.rows`.execute(conn);
        page = [];
      };
      let rowsRead = 0;
      for await (const { table, row } of readInSnapshot(access.pool, exported.snapshotName, snapshotQueries(source, hotelFilter), pageSize)) {
        rowsRead += 1;
        progress(() => `${source}: ${rowsRead.toLocaleString('en')} source rows read`);
        if (table === 'public.htl_property') {
          const property = mapLegacyProperty(row);
          // A property the pipeline cannot map keeps the hotel's last good class: not comparable.
          const code = typeof row['prop_cd'] === 'string' ? normalizeCode(row['prop_cd']) : '';
          if (property.ok) hotels.set(property.value.hotelCode, { mgmtType: property.value.mgmtType, currency: property.value.currency });
          else if (code !== '') hotels.set(code, 'unknown');
          continue;
        }
        if (table === 'public.properties') {
          const property = mapCloudProperty(row);
          if (property.ok) cloudHotelOf.set(property.value.propertyId, property.value.hotelCode);
          continue;
        }
        const key = source === 'legacy' ? mapLegacyRoomKey(row) : mapCloudRoomKey(row, (id) => cloudHotelOf.get(id));
        // A row without a usable key is dead-lettered by the pipeline and belongs to no room.
        if (!key.ok) continue;
        if (hotelFilter !== undefined && key.value.hotelCode !== hotelFilter) continue;
        const mapped = source === 'legacy' ? mapLegacyRoom(row) : mapCloudRoom(row, (id) => cloudHotelOf.get(id));
        const snapshotRow: SnapshotRoomRow = mapped.ok ? { kind: 'row', values: mapped.value.values } : { kind: 'unmappable', reason: mapped.reason };
        page.push({ hotel_code: key.value.hotelCode, room_code: key.value.roomCode, row: snapshotRow });
        if (page.length >= pageSize) await flush();
      }
      await flush();
      deps.onProgress?.(`${source}: ${rowsRead.toLocaleString('en')} source rows read; comparing with room_sources`);
    } finally {
      // The temporary slot goes with its connection: nothing is retained on the source past the read.
      await exported.release();
    }

    // 2. Snapshot against room_sources, through a cursor.
    const hotelOf = (hotelCode: string): SnapshotHotel | null | 'unknown' => hotels.get(hotelCode) ?? null;
    await sql`BEGIN`.execute(conn);
    try {
      await sql`
        DECLARE reconcile_cursor NO SCROLL CURSOR FOR
        SELECT coalesce(t.hotel_code, s.hotel_code) AS hotel_code, coalesce(t.room_code, s.room_code) AS room_code,
               t.rows, s.legacy, s.cloud, s.legacy_hotel
          FROM reconcile_snapshot_rooms t
          FULL JOIN room_sources s ON s.hotel_code = t.hotel_code AND s.room_code = t.room_code
         WHERE ${hotelFilter ?? null}::text IS NULL OR coalesce(t.hotel_code, s.hotel_code) = ${hotelFilter ?? null}::text`.execute(conn);
      let compared = 0;
      for (;;) {
        const { rows } = await sql<Record<string, unknown>>`FETCH ${sql.raw(String(pageSize))} FROM reconcile_cursor`.execute(conn);
        for (const raw of rows) {
          const joined = joinedRowSchema.parse(raw);
          const side: SnapshotSide = { rows: joined.rows ?? [], hotel: hotelOf(joined.hotel_code) };
          const comparison = compareStored(source, snapshotPosition, side, joined);
          countVerdict(counts, comparison.verdict);
          if (differingVerdicts.has(comparison.verdict)) {
            suspects.push({ room: { hotelCode: joined.hotel_code, roomCode: joined.room_code }, ...side, firstSeen: comparison.verdict, comparison });
          }
        }
        compared += rows.length;
        progress(() => `${source}: ${compared.toLocaleString('en')} rooms compared, ${suspects.length} differing so far`);
        if (rows.length < pageSize) break;
      }
      await sql`COMMIT`.execute(conn);
    } catch (error) {
      await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      throw error;
    } finally {
      await sql`DROP TABLE IF EXISTS reconcile_snapshot_rooms`.execute(conn).catch(() => undefined);
    }
  });

  // 3. A difference seen once may be a change in flight: compare again once the pipeline applied everything up to the snapshot.
  let streamCaughtUp = true;
  let inFlight = 0;
  if (suspects.length > 0) {
    deps.onProgress?.(`${source}: ${suspects.length} room(s) differ; waiting for the pipeline to apply everything up to the snapshot, then comparing them again`);
    const deadline = Date.now() + (options.confirmTimeoutMs ?? 60_000);
    streamCaughtUp = await waitForStream(db, source, exported.consistentPoint, deadline);
    if (streamCaughtUp) await waitForLedger(db, source, suspects.map((suspect) => suspect.room), snapshotPosition, deadline);
    const before = suspects.length;
    await recompare(db, source, snapshotPosition, suspects, counts);
    inFlight = before - suspects.filter((suspect) => differingVerdicts.has(suspect.comparison.verdict)).length;
  }
  const confirmed = suspects.filter((suspect) => differingVerdicts.has(suspect.comparison.verdict));

  // 4. Repair: the snapshot's row (or its absence) through each room's workflow, at the snapshot's position.
  let repaired = 0;
  const afterRepair = new Map<Suspect, Verdict>();
  if (options.repair && confirmed.length > 0) {
    if (!deps.temporal) throw new Error('reconcile --repair needs Temporal');
    const { client, taskQueue } = await deps.temporal();
    deps.onProgress?.(`${source}: repairing ${confirmed.length} room(s) through their workflows`);
    const commitTime = startedAt;
    const changes = await repairChanges(db, source, confirmed, snapshotPosition, commitTime);
    await deliver(client, taskQueue, db, changes, deps.log);
    await waitForApplied(db, source, changes, Date.now() + (options.repairTimeoutMs ?? 120_000));
    const verdictsBefore = new Map(confirmed.map((suspect) => [suspect, suspect.comparison.verdict]));
    await recompare(db, source, snapshotPosition, confirmed, null);
    for (const suspect of confirmed) {
      afterRepair.set(suspect, suspect.comparison.verdict);
      if (!differingVerdicts.has(suspect.comparison.verdict)) repaired += 1;
      // The report keeps what was found; afterRepair says what it is now.
      const found = verdictsBefore.get(suspect);
      if (found !== undefined) suspect.comparison = { ...suspect.comparison, verdict: found };
    }
  }
  const unresolved = options.repair ? confirmed.length - repaired : confirmed.length;
  const limit = options.listLimit ?? 1_000;
  return {
    source,
    snapshotPosition,
    startedAt,
    counts,
    inFlight,
    streamCaughtUp,
    repaired,
    unresolved,
    rooms: confirmed.slice(0, limit).map((suspect) => ({
      room: roomKeyText(suspect.room),
      firstSeen: suspect.firstSeen,
      verdict: suspect.comparison.verdict,
      differences: suspect.comparison.differences,
      afterRepair: afterRepair.get(suspect) ?? null,
    })),
  };
}

/** The connector has acknowledged past the snapshot's consistent point: every change before it reached Temporal. */
async function waitForStream(db: Kysely<UnifiedDatabase>, source: SourceName, consistentPoint: string, deadline: number): Promise<boolean> {
  const target = lsnToBigInt(consistentPoint);
  for (;;) {
    const cursor = await db.selectFrom('cdc_cursors').select('last_acked_lsn').where('source', '=', source).executeTakeFirst();
    if (cursor?.last_acked_lsn && lsnToBigInt(cursor.last_acked_lsn) >= target) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

/** None of the rooms has a change from before the snapshot that no apply has taken yet (the unapplied ledger). */
async function waitForLedger(db: Kysely<UnifiedDatabase>, source: SourceName, rooms: readonly RoomKey[], snapshotPosition: string, deadline: number): Promise<boolean> {
  for (;;) {
    const waiting = await sql<{ n: string }>`
      SELECT count(*) AS n FROM unapplied_changes u
        JOIN unnest(${rooms.map((room) => room.hotelCode)}::text[], ${rooms.map((room) => room.roomCode)}::text[]) AS k(hotel_code, room_code)
          ON k.hotel_code = u.hotel_code AND k.room_code = u.room_code
       WHERE u.source = ${source} AND u.position <= ${snapshotPosition}`.execute(db);
    if (Number(waiting.rows[0]?.n ?? 0) === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

/** Reads the rooms' room_sources again and compares them with the same snapshot rows; `counts` follows the new verdicts. */
async function recompare(db: Kysely<UnifiedDatabase>, source: SourceName, snapshotPosition: string, suspects: Suspect[], counts: VerdictCounts | null): Promise<void> {
  for (let i = 0; i < suspects.length; i += 1_000) {
    const batch = suspects.slice(i, i + 1_000);
    const { rows } = await sql<Record<string, unknown>>`
      SELECT s.hotel_code, s.room_code, s.legacy, s.cloud, s.legacy_hotel FROM room_sources s
        JOIN unnest(${batch.map((suspect) => suspect.room.hotelCode)}::text[], ${batch.map((suspect) => suspect.room.roomCode)}::text[]) AS k(hotel_code, room_code)
          ON k.hotel_code = s.hotel_code AND k.room_code = s.room_code`.execute(db);
    const stored = new Map(rows.map((raw) => storedRoomSchema.parse(raw)).map((row) => [roomKeyText({ hotelCode: row.hotel_code, roomCode: row.room_code }), row]));
    for (const suspect of batch) {
      const comparison = compareStored(source, snapshotPosition, suspect, stored.get(roomKeyText(suspect.room)) ?? null);
      if (counts) {
        uncount(counts, suspect.comparison.verdict);
        countVerdict(counts, comparison.verdict);
      }
      suspect.comparison = comparison;
    }
  }
}

function uncount(counts: VerdictCounts, verdict: Verdict): void {
  const undo = emptyCounts();
  countVerdict(undo, verdict);
  for (const key of Object.keys(undo) as (keyof VerdictCounts)[]) counts[key] -= undo[key];
}

/**
 * The changes a repair delivers. A room row that differs gets the snapshot's values (or null);
 * a legacy property that differs is first recorded in legacy_hotels at the snapshot's position
 * (guarded like the connector's own write), and the room is signalled to take it.
 */
async function repairChanges(db: Kysely<UnifiedDatabase>, source: SourceName, suspects: readonly Suspect[], position: string, commitTime: string): Promise<SourceChange[]> {
  const changes: SourceChange[] = [];
  const hotelsRepaired = new Set<string>();
  for (const suspect of suspects) {
    const { comparison, room } = suspect;
    if (differingVerdicts.has(comparison.roomVerdict)) {
      changes.push({
        kind: 'room',
        source,
        hotelCode: room.hotelCode,
        roomCode: room.roomCode,
        position,
        commitTime,
        values: comparison.repairValues,
        reason: repairReason(comparison.roomVerdict),
      });
    }
    if (source === 'legacy' && differingVerdicts.has(comparison.hotelVerdict) && suspect.hotel !== 'unknown') {
      if (!hotelsRepaired.has(room.hotelCode)) {
        hotelsRepaired.add(room.hotelCode);
        await recordRepairedHotel(db, room.hotelCode, suspect.hotel, position, commitTime, repairReason(comparison.hotelVerdict));
      }
      changes.push({ kind: 'legacy-hotel', source: 'legacy', hotelCode: room.hotelCode, roomCode: room.roomCode, position, commitTime });
    }
  }
  return changes;
}

async function recordRepairedHotel(db: Kysely<UnifiedDatabase>, hotelCode: string, hotel: SnapshotHotel | null, position: string, commitTime: string, reason: string): Promise<void> {
  const current = await db.selectFrom('legacy_hotels').select(['mgmt_typ', 'currency']).where('hotel_code', '=', hotelCode).executeTakeFirst();
  const values = {
    present: hotel !== null,
    mgmt_typ: hotel?.mgmtType ?? current?.mgmt_typ ?? '',
    currency: hotel?.currency ?? current?.currency ?? 'XXX',
    position,
    commit_time: commitTime,
    updated_at: sql<Date>`now()`,
    reason,
  };
  await db
    .insertInto('legacy_hotels')
    .values({ hotel_code: hotelCode, ...values })
    .onConflict((conflict) => conflict.column('hotel_code').doUpdateSet(values).where('legacy_hotels.position', '<', position))
    .execute();
}

/** Through the connector's own path: the unapplied ledger first, then signal-with-start of each room's workflow. */
async function deliver(client: Client, taskQueue: string, db: Kysely<UnifiedDatabase>, changes: readonly SourceChange[], log: Logger | undefined): Promise<void> {
  const sender = new ChangeSender({
    deliver: temporalDelivery(client, taskQueue, new UnappliedLedger(db)),
    maxInFlight: 16,
    maxBatchChanges: 500,
    maxQueuedChanges: 10_000,
    log: log ?? createLogger('reconcile'),
  });
  try {
    const signals = changes.map((change) => ({ room: { hotelCode: change.hotelCode, roomCode: change.roomCode }, change }));
    const deliveries: Promise<void>[] = [];
    for (let i = 0; i < signals.length; i += 1_000) deliveries.push(...(await sender.send(signals.slice(i, i + 1_000))));
    await Promise.all(deliveries);
  } finally {
    sender.stop();
  }
}

/** Every repair change has been taken by an apply (its ledger entry is gone). */
async function waitForApplied(db: Kysely<UnifiedDatabase>, source: SourceName, changes: readonly SourceChange[], deadline: number): Promise<void> {
  if (changes.length === 0) return;
  const rooms = [...new Map(changes.map((change) => [`${change.hotelCode}/${change.roomCode}`, { hotelCode: change.hotelCode, roomCode: change.roomCode }])).values()];
  const position = changes[0]?.position ?? '';
  for (;;) {
    const waiting = await sql<{ n: string }>`
      SELECT count(*) AS n FROM unapplied_changes u
        JOIN unnest(${rooms.map((room) => room.hotelCode)}::text[], ${rooms.map((room) => room.roomCode)}::text[]) AS k(hotel_code, room_code)
          ON k.hotel_code = u.hotel_code AND k.room_code = u.room_code
       WHERE u.source = ${source} AND u.position = ${position}`.execute(db);
    const open = Number(waiting.rows[0]?.n ?? 0);
    if (open === 0) return;
    if (Date.now() > deadline) throw new Error(`reconcile --repair: ${open} repair change(s) not applied in time; is a worker running?`);
    await sleep(250);
  }
}
