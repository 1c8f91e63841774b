import { createHash, type Hash } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sql, type Kysely, type Transaction } from 'kysely';
import {
  attachedMonthPartitions,
  defaultPartitionRows,
  partitionLockKey,
  partitionedAuditTables,
  type MonthPartition,
  type PartitionedAuditTable,
} from '../db/audit-partitions.js';
import { pipelineRole } from '../db/pipeline-credentials.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { RoomKey } from '../domain/room.js';
import type { StoredAuditRow } from './verify.js';
import {
  archivedAuditLineOf,
  archivedAuditRow,
  archivedHistoryRow,
  archiveFileName,
  ArchiveError,
  checkArchiveBefore,
  emptyManifest,
  manifestName,
  outsideRetention,
  parseManifest,
  withManifestFile,
  type ArchivedAuditLine,
  type ArchivedHistoryRow,
  type ArchivedRoomHead,
  type ArchiveManifest,
  type ManifestFile,
} from './archive-format.js';

/**
 * `room-sync audit archive --before MONTH --to DIR`, run as the owner: every whole monthly
 * partition of conflict_audit and unified_field_history before MONTH is exported to DIR
 * (archive-format.ts), read back and compared with the database, and only then detached into
 * the schema audit_archive, recorded in audit_archived_months (and, for conflict_audit, each
 * room's chain head in conflict_audit_archived_heads, which the apply and verify continue
 * from). One transaction per partition, holding it in SHARE mode: a failure anywhere leaves it
 * attached. Detached tables are dropped only once their month is wholly outside the retention
 * window; nothing inside it is deleted.
 */

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

export interface ArchiveProgress {
  readonly table: PartitionedAuditTable;
  readonly month: string;
  readonly step: 'exporting' | 'checking';
  readonly rows: number;
  readonly elapsedMs: number;
}

export interface ArchiveOptions {
  readonly before: string;
  readonly dir: string;
  readonly retentionYears: number;
  readonly toolVersion: string;
  readonly pageSize?: number;
  readonly onProgress?: (progress: ArchiveProgress) => void;
}

export interface SkippedMonth {
  readonly table: PartitionedAuditTable;
  readonly month: string;
  readonly reason: string;
}

export interface ArchiveResult {
  readonly manifest: string;
  readonly archived: readonly ManifestFile[];
  readonly skipped: readonly SkippedMonth[];
  /** Detached tables dropped: wholly outside the retention window. */
  readonly dropped: readonly string[];
}

interface PartitionLine {
  readonly id: string;
  readonly hotel_code: string;
  readonly room_code: string;
  readonly row_hash: string | null;
  readonly line: string;
}

const utcMicros = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** Each row as one JSON line: its columns, the id as a string, timestamps in UTC with microseconds. */
function lineExpression(table: PartitionedAuditTable) {
  return table === 'conflict_audit'
    ? sql`(to_jsonb(t) || jsonb_build_object('id', t.id::text, 'resolved_at', to_char(t.resolved_at AT TIME ZONE 'UTC', ${sql.raw(utcMicros)})))::text`
    : sql`(to_jsonb(t) || jsonb_build_object('id', t.id::text,
              'applied_at', to_char(t.applied_at AT TIME ZONE 'UTC', ${sql.raw(utcMicros)}),
              'source_commit_time', to_char(t.source_commit_time AT TIME ZONE 'UTC', ${sql.raw(utcMicros)})))::text`;
}

/** A partition's rows in id order, paged by id. */
async function* partitionLines(trx: Db, table: PartitionedAuditTable, partition: string, pageSize: number): AsyncGenerator<PartitionLine> {
  let after = '0';
  for (;;) {
    const { rows } = await sql<PartitionLine>`
      SELECT t.id::text AS id, t.hotel_code, t.room_code, ${table === 'conflict_audit' ? sql`t.row_hash` : sql`NULL::text`} AS row_hash,
             ${lineExpression(table)} AS line
        FROM ${sql.table(partition)} t
       WHERE t.id > ${after}::bigint
       ORDER BY t.id LIMIT ${pageSize}`.execute(trx);
    for (const row of rows) yield row;
    const last = rows.at(-1);
    if (last === undefined || rows.length < pageSize) return;
    after = last.id;
  }
}

/** The lines of an archive file; `hash` sees the file's bytes as they are read. */
export async function* archiveLines(path: string, hash?: Hash): AsyncGenerator<string> {
  const file = createReadStream(path);
  if (hash) file.on('data', (chunk) => hash.update(chunk));
  const gunzip = createGunzip();
  const piping = pipeline(file, gunzip);
  piping.catch(() => undefined);
  for await (const line of createInterface({ input: gunzip, crlfDelay: Infinity })) {
    if (line !== '') yield line;
  }
  await piping;
}

interface ExportSummary {
  readonly rows: number;
  readonly sha256: string;
  readonly bytes: number;
  readonly minId: string | null;
  readonly maxId: string | null;
  readonly heads: ArchivedRoomHead[];
}

async function exportPartition(trx: Transaction<UnifiedDatabase>, partition: MonthPartition, path: string, options: ArchiveOptions): Promise<ExportSummary> {
  const started = Date.now();
  const hash = createHash('sha256');
  let bytes = 0;
  let rows = 0;
  let minId: string | null = null;
  let maxId: string | null = null;
  const heads = new Map<string, ArchivedRoomHead>();
  let nextReport = 2_000;
  async function* lines(): AsyncGenerator<string> {
    for await (const row of partitionLines(trx, partition.table, partition.name, options.pageSize ?? 5_000)) {
      rows += 1;
      minId ??= row.id;
      maxId = row.id;
      if (partition.table === 'conflict_audit') {
        const key = `${row.hotel_code}\u0000${row.room_code}`;
        heads.set(key, { hotel_code: row.hotel_code, room_code: row.room_code, rows: (heads.get(key)?.rows ?? 0) + 1, head_id: row.id, head: row.row_hash });
      }
      if (Date.now() - started >= nextReport) {
        nextReport = Date.now() - started + 2_000;
        options.onProgress?.({ table: partition.table, month: partition.month, step: 'exporting', rows, elapsedMs: Date.now() - started });
      }
      yield `${row.line}\n`;
    }
  }
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const temporary = `${path}.partial`;
  await pipeline(Readable.from(lines()), createGzip(), tap, createWriteStream(temporary, { flags: 'w', flush: true }));
  await rename(temporary, path);
  const sortedHeads = [...heads.values()].sort((a, b) => (BigInt(a.head_id) < BigInt(b.head_id) ? -1 : 1));
  return { rows, sha256: hash.digest('hex'), bytes, minId, maxId, heads: sortedHeads };
}

/** Reads the file back: its checksum, its row count and every line against the partition's row. */
async function checkExport(trx: Transaction<UnifiedDatabase>, partition: MonthPartition, path: string, written: ExportSummary, options: ArchiveOptions): Promise<void> {
  const started = Date.now();
  const hash = createHash('sha256');
  const database = partitionLines(trx, partition.table, partition.name, options.pageSize ?? 5_000);
  let rows = 0;
  let nextReport = 2_000;
  for await (const line of archiveLines(path, hash)) {
    rows += 1;
    const row = await database.next();
    if (row.done) throw new ArchiveError(`${path}: line ${rows} has no row in ${partition.name} (the file has more rows than the partition)`);
    if (row.value.line !== line) throw new ArchiveError(`${path}: line ${rows} is not row #${row.value.id} of ${partition.name} as the database holds it`);
    if (Date.now() - started >= nextReport) {
      nextReport = Date.now() - started + 2_000;
      options.onProgress?.({ table: partition.table, month: partition.month, step: 'checking', rows, elapsedMs: Date.now() - started });
    }
  }
  const rest = await database.next();
  if (!rest.done) throw new ArchiveError(`${path}: ends after ${rows} row(s), ${partition.name} has row #${rest.value.id} after them`);
  if (rows !== written.rows) throw new ArchiveError(`${path}: reads back ${rows} row(s), ${written.rows} were written`);
  const sha256 = hash.digest('hex');
  if (sha256 !== written.sha256) throw new ArchiveError(`${path}: reads back with sha256 ${sha256}, ${written.sha256} was written`);
}

async function readManifestIn(dir: string): Promise<ArchiveManifest | null> {
  const path = join(dir, manifestName);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ArchiveError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseManifest(text, path);
}

/** The archive folder's manifest; refused when the folder has none. */
export async function readManifest(dir: string): Promise<ArchiveManifest> {
  const manifest = await readManifestIn(dir);
  if (manifest === null) throw new ArchiveError(`${dir} is not an audit archive: it has no ${manifestName} (room-sync audit archive writes one)`);
  return manifest;
}

async function writeManifest(dir: string, manifest: ArchiveManifest): Promise<void> {
  const path = join(dir, manifestName);
  await writeFile(`${path}.partial`, `${JSON.stringify(manifest, null, 2)}\n`, { flush: true });
  await rename(`${path}.partial`, path);
}

async function writableFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
    const probe = join(dir, `.room-sync-write-check-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (error) {
    throw new ArchiveError(`--to ${dir} is not a writable folder: ${(error as Error).message}`);
  }
}

interface ArchivedMonthRecord {
  readonly table_name: PartitionedAuditTable;
  readonly month: string;
  readonly file: string;
  readonly sha256: string;
  readonly rows: string;
  readonly detached_as: string;
  readonly present: boolean;
}

/** What audit_archived_months records, month as `YYYY-MM`; `present`: the detached table is still kept. */
export async function archivedMonths(db: Db): Promise<ArchivedMonthRecord[]> {
  const { rows } = await sql<ArchivedMonthRecord>`
    SELECT table_name, to_char(month, 'YYYY-MM') AS month, file, sha256, rows::text AS rows, detached_as,
           to_regclass(detached_as) IS NOT NULL AS present
      FROM audit_archived_months ORDER BY month, table_name`.execute(db);
  return rows;
}

async function detachPartition(trx: Transaction<UnifiedDatabase>, partition: MonthPartition, file: ManifestFile, heads: readonly ArchivedRoomHead[]): Promise<void> {
  const guard = partition.table === 'conflict_audit' ? 'conflict_audit_is_append_only' : 'audit_table_is_append_only';
  await sql`ALTER TABLE ${sql.table(partition.table)} DETACH PARTITION ${sql.table(partition.name)}`.execute(trx);
  await sql`ALTER TABLE ${sql.table(partition.name)} SET SCHEMA audit_archive`.execute(trx);
  const detached = sql.table(`audit_archive.${partition.name}`);
  // A detached partition loses the triggers it had from its parent: it stays append-only on its own.
  await sql`CREATE TRIGGER ${sql.raw(`${partition.name}_no_update_delete`)} BEFORE UPDATE OR DELETE ON ${detached}
            FOR EACH ROW EXECUTE FUNCTION ${sql.raw(guard)}()`.execute(trx);
  const { rows: roles } = await sql<{ found: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${pipelineRole}) AS found`.execute(trx);
  if (roles[0]?.found) await sql`REVOKE ALL ON ${detached} FROM ${sql.id(pipelineRole)}`.execute(trx);
  await sql`
    INSERT INTO audit_archived_months (table_name, month, rows, min_id, max_id, file, sha256, detached_as)
    VALUES (${partition.table}, ${`${partition.month}-01`}::date, ${file.rows}, ${file.min_id}::bigint, ${file.max_id}::bigint, ${file.file}, ${file.sha256}, ${file.detached_as})`.execute(trx);
  if (heads.length > 0) {
    await sql`
      INSERT INTO conflict_audit_archived_heads (month, hotel_code, room_code, rows, head_id, head_hash)
      SELECT ${`${partition.month}-01`}::date, h.hotel_code, h.room_code, h.rows, h.head_id::bigint, h.head
        FROM jsonb_to_recordset(${JSON.stringify(heads)}::jsonb) AS h(hotel_code text, room_code text, rows bigint, head_id text, head text)`.execute(trx);
  }
}

async function databaseClock(db: Db): Promise<{ now: Date; month: string; database: string }> {
  const { rows } = await sql<{ now: Date; month: string; database: string }>`
    SELECT now() AS now, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') AS month, current_database()::text AS database`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('the database did not tell its time');
  return row;
}

/** Drops the detached tables wholly outside the retention window; returns their names. */
export async function dropExpiredArchives(db: Kysely<UnifiedDatabase>, retentionYears: number): Promise<string[]> {
  const { now } = await databaseClock(db);
  const dropped: string[] = [];
  for (const record of await archivedMonths(db)) {
    if (!record.present || !outsideRetention(record.month, now, retentionYears)) continue;
    await sql`DROP TABLE ${sql.table(record.detached_as)}`.execute(db);
    dropped.push(record.detached_as);
  }
  return dropped;
}

export async function archiveAuditMonths(db: Kysely<UnifiedDatabase>, options: ArchiveOptions): Promise<ArchiveResult> {
  const clock = await databaseClock(db);
  checkArchiveBefore(options.before, clock.month);
  await writableFolder(options.dir);
  let manifest = (await readManifestIn(options.dir)) ?? emptyManifest(clock.database, options.toolVersion, clock.now);
  if (manifest.database !== clock.database) {
    throw new ArchiveError(`--to ${options.dir} holds the archive of database ${manifest.database}, not of ${clock.database}: give a folder of its own`);
  }

  // A month whose rows sit in DEFAULT cannot be archived whole: refuse before anything changes.
  const stranded: string[] = [];
  for (const table of Object.keys(partitionedAuditTables) as PartitionedAuditTable[]) {
    for (const { month, rows } of await defaultPartitionRows(db, table, options.before)) {
      stranded.push(`${rows} row(s) of ${table} for ${month}`);
    }
  }
  if (stranded.length > 0) {
    throw new ArchiveError(
      `${stranded.join(', ')} sit in the DEFAULT partition (no monthly partition existed when they were written), so ` +
        `${stranded.length > 1 ? 'those months' : 'that month'} cannot be archived whole; archive only earlier months (a smaller --before)`,
    );
  }

  const recorded = await archivedMonths(db);
  const skipped: SkippedMonth[] = [];
  for (const record of recorded) {
    if (record.month >= options.before) continue;
    const inFolder = manifest.files.find((file) => file.table === record.table_name && file.month === record.month && file.sha256 === record.sha256);
    skipped.push({
      table: record.table_name,
      month: record.month,
      reason: inFolder ? `already archived into ${options.dir}` : `archived earlier to another folder (${record.file}, sha256 ${record.sha256.slice(0, 12)}…)`,
    });
  }

  const archived: ManifestFile[] = [];
  const partitions = (await attachedMonthPartitions(db)).filter((partition) => partition.month < options.before);
  for (const partition of partitions) {
    const file = archiveFileName(partition.table, partition.month);
    const path = join(options.dir, file);
    const entry = await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${partitionLockKey})`.execute(trx);
      // Nothing is written to the month while it is exported, checked and detached.
      await sql`LOCK TABLE ${sql.table(partition.name)} IN SHARE MODE`.execute(trx);
      const written = await exportPartition(trx, partition, path, options);
      await checkExport(trx, partition, path, written, options);
      const { size } = await stat(path);
      const described: ManifestFile = {
        table: partition.table,
        month: partition.month,
        file,
        rows: written.rows,
        bytes: size,
        sha256: written.sha256,
        min_id: written.minId,
        max_id: written.maxId,
        partition: partition.name,
        detached_as: `audit_archive.${partition.name}`,
        archived_at: new Date().toISOString(),
        tool_version: options.toolVersion,
        ...(partition.table === 'conflict_audit' ? { heads: written.heads } : {}),
      };
      await detachPartition(trx, partition, described, written.heads);
      // The manifest names the file before the detach commits: a failed commit leaves the month attached, and a re-run redoes it.
      manifest = withManifestFile(manifest, described, options.toolVersion, new Date());
      await writeManifest(options.dir, manifest);
      return described;
    });
    archived.push(entry);
  }
  if (archived.length === 0 && (await readManifestIn(options.dir)) === null) await writeManifest(options.dir, manifest);
  const dropped = await dropExpiredArchives(db, options.retentionYears);
  return { manifest: join(options.dir, manifestName), archived, skipped, dropped };
}

// ---- reading an archive folder: `audit verify --archive`, `audit explain --archive` ------------------------------

export interface ArchiveFileProblem {
  readonly file: string;
  readonly problem: string;
}

export interface ArchiveCheck {
  readonly manifest: ArchiveManifest;
  readonly files: number;
  readonly rows: number;
  readonly problems: readonly ArchiveFileProblem[];
}

/**
 * The folder against its manifest and the database's record of what was archived: every month
 * the database detached is in the manifest with the same checksum, and every file is there,
 * hashes to its checksum, has its row count and id range, and (conflict_audit) its chain heads.
 */
export async function checkArchiveFolder(db: Db, dir: string, onProgress?: (file: string, rows: number) => void): Promise<ArchiveCheck> {
  const manifest = await readManifest(dir);
  const problems: ArchiveFileProblem[] = [];
  for (const record of await archivedMonths(db)) {
    const entry = manifest.files.find((file) => file.table === record.table_name && file.month === record.month);
    if (!entry) problems.push({ file: record.file, problem: `${record.table_name} ${record.month} was archived (${record.rows} rows) but is not in ${join(dir, manifestName)}` });
    else if (entry.sha256 !== record.sha256) {
      problems.push({ file: entry.file, problem: `the manifest's sha256 ${entry.sha256} is not the one recorded when it was archived (${record.sha256}): the manifest was edited` });
    }
  }
  let rows = 0;
  for (const entry of manifest.files) {
    const path = join(dir, entry.file);
    try {
      await access(path, constants.R_OK);
    } catch {
      problems.push({ file: entry.file, problem: `missing from ${dir}` });
      continue;
    }
    const hash = createHash('sha256');
    let count = 0;
    let minId: string | null = null;
    let maxId: string | null = null;
    const heads = new Map<string, ArchivedRoomHead>();
    try {
      for await (const line of archiveLines(path, hash)) {
        count += 1;
        const row = JSON.parse(line) as { id?: unknown; hotel_code?: unknown; room_code?: unknown; row_hash?: unknown };
        const id = String(row.id);
        minId ??= id;
        maxId = id;
        if (entry.table === 'conflict_audit') {
          const key = `${String(row.hotel_code)}\u0000${String(row.room_code)}`;
          const head = typeof row.row_hash === 'string' ? row.row_hash : null;
          heads.set(key, { hotel_code: String(row.hotel_code), room_code: String(row.room_code), rows: (heads.get(key)?.rows ?? 0) + 1, head_id: id, head });
        }
        if (count % 50_000 === 0) onProgress?.(entry.file, count);
      }
    } catch (error) {
      problems.push({ file: entry.file, problem: `cannot be read back: ${(error as Error).message}` });
      continue;
    }
    rows += count;
    const sha256 = hash.digest('hex');
    if (sha256 !== entry.sha256) {
      problems.push({ file: entry.file, problem: `its sha256 is ${sha256}, the manifest says ${entry.sha256}: the file was altered` });
      continue;
    }
    if (count !== entry.rows) problems.push({ file: entry.file, problem: `has ${count} row(s), the manifest says ${entry.rows}` });
    else if (minId !== entry.min_id || maxId !== entry.max_id) problems.push({ file: entry.file, problem: `its ids run ${minId ?? '-'}..${maxId ?? '-'}, the manifest says ${entry.min_id ?? '-'}..${entry.max_id ?? '-'}` });
    else if (entry.heads) {
      const expected = new Map(entry.heads.map((head) => [`${head.hotel_code}\u0000${head.room_code}`, head]));
      const differing = [...heads.entries()].find(([key, head]) => {
        const listed = expected.get(key);
        return !listed || listed.head_id !== head.head_id || listed.head !== head.head || listed.rows !== head.rows;
      });
      if (differing || heads.size !== expected.size) {
        const [, head] = differing ?? [];
        problems.push({ file: entry.file, problem: `its chain heads are not the manifest's${head ? ` (room ${head.hotel_code}/${head.room_code})` : ''}` });
      }
    }
  }
  return { manifest, files: manifest.files.length, rows, problems };
}

/** The archived files of one table, oldest month first, with each line's number. */
export async function* archivedLines(dir: string, manifest: ArchiveManifest, table: PartitionedAuditTable): AsyncGenerator<{ file: string; line: string; number: number }> {
  for (const entry of manifest.files) {
    if (entry.table !== table) continue;
    let number = 0;
    for await (const line of archiveLines(join(dir, entry.file))) {
      number += 1;
      yield { file: entry.file, line, number };
    }
  }
}

/** The archived conflict_audit rows as the chain walk reads them: oldest month first, each in id order. */
export async function* archivedAuditRows(dir: string, manifest: ArchiveManifest): AsyncGenerator<StoredAuditRow> {
  for await (const { file, line, number } of archivedLines(dir, manifest, 'conflict_audit')) yield archivedAuditRow(line, file, number);
}

/**
 * One room's rows in the archived files of a table, for explain. Each file is hashed as it is
 * read: a file that no longer matches its manifest is refused rather than answered from.
 */
async function archivedRoomLines<T extends { readonly hotel_code: string; readonly room_code: string }>(
  dir: string,
  manifest: ArchiveManifest,
  table: PartitionedAuditTable,
  room: RoomKey,
  parse: (line: string, file: string, number: number) => T,
): Promise<T[]> {
  const found: T[] = [];
  for (const entry of manifest.files) {
    if (entry.table !== table) continue;
    const path = join(dir, entry.file);
    const hash = createHash('sha256');
    let number = 0;
    try {
      for await (const line of archiveLines(path, hash)) {
        number += 1;
        // Only lines that can be the room's are parsed in full.
        if (!line.includes(JSON.stringify(room.roomCode))) continue;
        const row = parse(line, entry.file, number);
        if (row.hotel_code === room.hotelCode && row.room_code === room.roomCode) found.push(row);
      }
    } catch (error) {
      if (error instanceof ArchiveError) throw error;
      throw new ArchiveError(`cannot read ${path}: ${(error as Error).message}`);
    }
    const sha256 = hash.digest('hex');
    if (sha256 !== entry.sha256) throw new ArchiveError(`${path}: its sha256 is ${sha256}, the manifest says ${entry.sha256}: the file was altered (audit verify --archive)`);
  }
  return found;
}

export function archivedHistoryOf(dir: string, manifest: ArchiveManifest, room: RoomKey): Promise<ArchivedHistoryRow[]> {
  return archivedRoomLines(dir, manifest, 'unified_field_history', room, archivedHistoryRow);
}

export function archivedAuditOf(dir: string, manifest: ArchiveManifest, room: RoomKey): Promise<ArchivedAuditLine[]> {
  return archivedRoomLines(dir, manifest, 'conflict_audit', room, archivedAuditLineOf);
}
