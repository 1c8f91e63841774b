// Retention and cold storage on the real services: months of audit history written before the
// pipeline (as the owner, with the project's own chain functions, as an earlier run would
// have), live rows through the real pipeline continuing those chains, then `room-sync audit
// archive` → the months detached and their export checked → `audit verify` with and without
// the archive → `audit explain --archive` at an archived moment → an altered or missing file
// named → a re-run that changes nothing → the pipeline's role still only SELECT/INSERT; and a
// row for a month without a partition landing in DEFAULT, which archive then refuses.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { sql, type Kysely } from 'kysely';
import { chainRows, type ChainedAuditContent } from '../../src/audit/chain.js';
import { parseManifest } from '../../src/audit/archive-format.js';
import { archivedAuditRows } from '../../src/audit/archive.js';
import { buildDigest, type AuditDigest } from '../../src/audit/digest.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { ensureAuditPartitions } from '../../src/db/audit-partitions.js';
import { createPool, createUnifiedDb } from '../../src/db/connect.js';
import { migrateTo, migrateToLatest } from '../../src/db/migrate.js';
import type { UnifiedDatabase } from '../../src/db/schema.js';
import { adminUrlFor, dropDatabase, ensureDatabase } from '../../src/setup/postgres.js';
import { ensureUnifiedPipelineRole } from '../../src/setup/roles.js';
import { cliEnvironment, runRoomSync, type CliRun } from '../support/cli.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;
let propertyId: string;
let workDir: string;
let archiveDir: string;

const hotel = 'ARC1';
const eur = (minor: number) => ({ rate_minor: minor, currency: 'EUR' });

/** `YYYY-MM` of the month `offset` months from now (UTC). */
function monthFromNow(offset: number): string {
  const now = new Date();
  const moment = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return moment.toISOString().slice(0, 7);
}
const current = monthFromNow(0);
/** The two archived months, the first month not archived (--before), the month only DEFAULT holds, one outside the 7-year window. */
const [september, october, boundary, stranded, ancient] = [monthFromNow(-3), monthFromNow(-2), monthFromNow(-1), monthFromNow(-5), monthFromNow(-100)];
const at = (month: string, dayTime: string) => `${month}-${dayTime}Z`;

/** `room-sync ...` as the owner runs it, in a child process on the suite's databases. */
function roomSync(...args: string[]): Promise<CliRun> {
  return runRoomSync(cliEnvironment(dbs, { AUDIT_RETENTION_YEARS: '7' }), args);
}

/** A conflict as the apply would have audited it in an earlier month. */
function pastConflict(room: string, resolvedAt: string, legacyRate: number, cloudRate: number, position: string): ChainedAuditContent {
  return {
    hotel_code: hotel,
    room_code: room,
    field: 'rate',
    legacy_value: eur(legacyRate),
    cloud_value: eur(cloudRate),
    winning_value: eur(legacyRate),
    winning_source: 'legacy',
    rule: 'legacy-managed/rate: owner legacy',
    policy_version: 'archived-test@1',
    resolved_at: new Date(resolvedAt).toISOString(),
    hotel_class: 'legacy-managed',
    legacy_position: position,
    legacy_hotel_position: '0/1',
    cloud_position: '0/1',
    trigger_source: 'legacy',
    trigger_position: position,
  };
}

/** Past conflicts of a room, chained after its current head with the project's chain functions, as the owner. */
async function writePastConflicts(room: string, conflicts: readonly ChainedAuditContent[]): Promise<void> {
  const head = await dbs.unified
    .selectFrom('conflict_audit')
    .select('row_hash')
    .where('hotel_code', '=', hotel)
    .where('room_code', '=', room)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  for (const row of chainRows(head?.row_hash ?? null, conflicts)) await insertConflict(dbs.unified, row);
}

/** One conflict_audit row, written as the apply writes it (its own INSERT). */
async function insertConflict(db: Kysely<UnifiedDatabase>, row: ChainedAuditContent & { prev_hash?: string; row_hash?: string }): Promise<void> {
  await sql`
    INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version, resolved_at,
                                hotel_class, legacy_position, legacy_hotel_position, cloud_position, trigger_source, trigger_position, prev_hash, row_hash)
    VALUES (${row.hotel_code}, ${row.room_code}, ${row.field}, ${JSON.stringify(row.legacy_value)}::jsonb, ${JSON.stringify(row.cloud_value)}::jsonb,
            ${JSON.stringify(row.winning_value)}::jsonb, ${row.winning_source}, ${row.rule}, ${row.policy_version}, ${row.resolved_at}::timestamptz,
            ${row.hotel_class}, ${row.legacy_position}, ${row.legacy_hotel_position}, ${row.cloud_position}, ${row.trigger_source}, ${row.trigger_position},
            ${row.prev_hash ?? null}, ${row.row_hash ?? null})`.execute(db);
}

/** The four fields of a room as the apply would have recorded them at `appliedAt`. */
async function writePastHistory(room: string, appliedAt: string, rate: number, fields: readonly ('rate' | 'availability' | 'room_type' | 'status')[]): Promise<void> {
  const entries = {
    rate: { value: eur(rate), source: 'legacy', rule: 'legacy-managed/rate: owner legacy', legacy_value: eur(rate), cloud_value: eur(rate + 500) },
    availability: { value: 3, source: 'cloud', rule: 'legacy-managed/availability: owner cloud', legacy_value: 2, cloud_value: 3 },
    room_type: { value: 'double', source: 'legacy', rule: 'legacy-managed/room_type: owner legacy', legacy_value: 'double', cloud_value: 'king' },
    status: { value: 'open', source: 'cloud', rule: 'legacy-managed/status: owner cloud', legacy_value: 'open', cloud_value: 'open' },
  } as const;
  for (const field of fields) {
    const entry = entries[field];
    await dbs.unified
      .insertInto('unified_field_history')
      .values({
        hotel_code: hotel,
        room_code: room,
        field,
        value: JSON.stringify(entry.value),
        source: entry.source,
        rule: entry.rule,
        policy_version: 'archived-test@1',
        hotel_class: 'legacy-managed',
        legacy_value: JSON.stringify(entry.legacy_value),
        cloud_value: JSON.stringify(entry.cloud_value),
        source_position: '0/1',
        source_commit_time: appliedAt,
        applied_at: appliedAt,
      })
      .execute();
  }
}

async function partitionOf(table: 'conflict_audit' | 'unified_field_history', room: string): Promise<string[]> {
  const { rows } = await sql<{ partition: string }>`
    SELECT DISTINCT tableoid::regclass::text AS partition FROM ${sql.table(table)} WHERE hotel_code = ${hotel} AND room_code = ${room} ORDER BY 1`.execute(dbs.unified);
  return rows.map((row) => row.partition);
}

async function attached(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname IN ('conflict_audit', 'unified_field_history') ORDER BY 1`.execute(dbs.unified);
  return rows.map((row) => row.name);
}

async function auditRowCount(room: string): Promise<number> {
  const row = await dbs.unified.selectFrom('conflict_audit').select((eb) => eb.fn.countAll<string>().as('n')).where('hotel_code', '=', hotel).where('room_code', '=', room).executeTakeFirstOrThrow();
  return Number(row.n);
}

const compact = (month: string) => month.replace('-', '');

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('archive');
  workDir = await mkdtemp(join(tmpdir(), 'room-sync-archive-'));
  archiveDir = join(workDir, 'archive');
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  propertyId = await insertCloudProperty(dbs.cloud, hotel);

  // The history of earlier months: the migration created partitions from its oldest row's month, so the owner
  // creates the past months' partitions as the migration would have for rows already there.
  for (const month of [september, october, ancient]) {
    await sql`SELECT audit_create_month_partition('conflict_audit', ${`${month}-01`}::date)`.execute(dbs.unified);
  }
  for (const month of [september, october]) await sql`SELECT audit_create_month_partition('unified_field_history', ${`${month}-01`}::date)`.execute(dbs.unified);
  await writePastConflicts('103', [pastConflict('103', at(ancient, '03T08:00:00'), 9000, 9900, '0/A1')]);
  await writePastConflicts('101', [pastConflict('101', at(september, '10T10:00:00'), 12000, 12500, '0/B1'), pastConflict('101', at(september, '20T10:00:00'), 12100, 12500, '0/B2')]);
  await writePastConflicts('102', [pastConflict('102', at(september, '11T10:00:00'), 8000, 8800, '0/C1')]);
  await writePastConflicts('101', [pastConflict('101', at(october, '05T10:00:00'), 12500, 13000, '0/B3')]);
  await writePastHistory('101', at(september, '10T10:00:00.000'), 12000, ['rate', 'availability', 'room_type', 'status']);
  await writePastHistory('101', at(october, '05T10:00:00.000'), 12500, ['rate']);
  await writePastHistory('102', at(september, '11T10:00:00.000'), 8000, ['rate', 'availability', 'room_type', 'status']);

  pipeline = new TestPipeline(env, dbs, await defaultPolicy());
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test('past months sit in their partitions; live rows through the pipeline continue their chains', async () => {
  assert.deepEqual(await partitionOf('conflict_audit', '101'), [`conflict_audit_p${compact(september)}`, `conflict_audit_p${compact(october)}`]);
  assert.deepEqual(await partitionOf('conflict_audit', '103'), [`conflict_audit_p${compact(ancient)}`]);
  await insertLegacyRoom(dbs.legacy, hotel, '101', { rm_typ_cd: 'DBL', rate_amt: 13100, allot_qty: 4, stat_cd: 'A' });
  await insertCloudRoom(dbs.cloud, propertyId, '101', { room_type: 'king', nightly_rate: '140.00', currency: 'EUR', available_count: 7, is_active: true });
  await waitFor('a live conflict for room 101', async () => (await auditRowCount('101')) > 3);
  assert.deepEqual(await partitionOf('conflict_audit', '101'), [`conflict_audit_p${compact(september)}`, `conflict_audit_p${compact(october)}`, `conflict_audit_p${compact(current)}`]);
  const result = await verifyAuditLog(dbs.unified);
  assert.equal(result.ok, true, JSON.stringify(result.first));
  assert.equal(result.rows, 2 + (await auditRowCount('101')), 'the past rows of 101, 102, 103 and the live ones of 101');
});

test('archive refuses the current month, a future one, a folder it cannot write, a month that is not one', async () => {
  const thisMonth = await roomSync('audit', 'archive', '--before', current, '--to', archiveDir);
  assert.equal(thisMonth.code, 2, thisMonth.stderr);
  assert.match(thisMonth.stderr, /is the current month/);
  const future = await roomSync('audit', 'archive', '--before', monthFromNow(3), '--to', archiveDir);
  assert.equal(future.code, 2);
  assert.match(future.stderr, /in the future/);
  const blocker = join(workDir, 'a-file');
  await writeFile(blocker, 'not a folder');
  const unwritable = await roomSync('audit', 'archive', '--before', boundary, '--to', join(blocker, 'archive'));
  assert.equal(unwritable.code, 2);
  assert.match(unwritable.stderr, /is not a writable folder/);
  const garbage = await roomSync('audit', 'archive', '--before', 'last-month', '--to', archiveDir);
  assert.equal(garbage.code, 2);
  assert.match(garbage.stderr, /not a month: give YYYY-MM/);
  assert.ok((await attached()).includes(`conflict_audit_p${compact(september)}`), 'nothing was detached');
});

/** A digest an auditor took before the archive: the live walk from the archived heads must still extend it. */
let digestBeforeArchive: AuditDigest;

test('archive exports, checks and detaches every month before --before; kept while inside the retention window, dropped outside it', async () => {
  const heads = await verifyAuditLog(dbs.unified, { collectHeads: true });
  digestBeforeArchive = buildDigest(heads.heads, new Date());
  const run = await roomSync('audit', 'archive', '--before', boundary, '--to', archiveDir, '--json');
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { archived: { table: string; month: string; rows: number }[]; dropped: string[] };
  const archived = result.archived.map((file) => `${file.table} ${file.month} ${file.rows}`).sort();
  assert.deepEqual(archived, [
    `conflict_audit ${ancient} 1`,
    `conflict_audit ${october} 1`,
    `conflict_audit ${september} 3`,
    `unified_field_history ${october} 1`,
    `unified_field_history ${september} 8`,
  ].sort());
  assert.deepEqual(result.dropped, [`audit_archive.conflict_audit_p${compact(ancient)}`], 'only the month wholly older than 7 years is dropped');

  const partitions = await attached();
  for (const month of [september, october, ancient]) assert.ok(!partitions.includes(`conflict_audit_p${compact(month)}`), `${month} detached`);
  assert.ok(partitions.includes(`conflict_audit_p${compact(current)}`) && partitions.includes('conflict_audit_default'));
  const { rows: kept } = await sql<{ name: string }>`
    SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'audit_archive' AND c.relkind = 'r' ORDER BY 1`.execute(dbs.unified);
  assert.deepEqual(
    kept.map((row) => row.name),
    [`conflict_audit_p${compact(september)}`, `conflict_audit_p${compact(october)}`, `unified_field_history_p${compact(september)}`, `unified_field_history_p${compact(october)}`].sort(),
  );
  // Kept tables stay append-only, even for their owner.
  await assert.rejects(sql`UPDATE ${sql.table(`audit_archive.conflict_audit_p${compact(september)}`)} SET rule = 'x'`.execute(dbs.unified), /append-only/);
  assert.equal(await auditRowCount('102'), 0, 'room 102 has no live audit row left');

  const manifest = parseManifest(await readFile(join(archiveDir, 'manifest.json'), 'utf8'), 'manifest');
  const sept = manifest.files.find((file) => file.table === 'conflict_audit' && file.month === september);
  assert.ok(sept?.heads);
  assert.deepEqual(sept.heads.map((head) => `${head.room_code}:${head.rows}`), ['101:2', '102:1']);
  assert.equal(manifest.tool.name, 'room-sync');
  const lines = gunzipSync(await readFile(join(archiveDir, sept.file))).toString('utf8').trim().split('\n');
  assert.equal(lines.length, 3);
  assert.equal((JSON.parse(lines[0] ?? '{}') as { resolved_at: string }).resolved_at, `${at(september, '10T10:00:00').slice(0, -1)}.000000Z`);
});

test('audit verify passes on the live rows alone and, with --archive, across the archived months into the live rows', async () => {
  const live = await roomSync('audit', 'verify', '--json');
  assert.equal(live.code, 0, live.stdout + live.stderr);
  const extended = await verifyAuditLog(dbs.unified, { digest: digestBeforeArchive });
  assert.equal(extended.ok, true, `the live rows from the archived heads extend the earlier digest: ${JSON.stringify(extended.first)}`);
  const fromArchive = await verifyAuditLog(dbs.unified, { digest: digestBeforeArchive, archive: archivedAuditRows(archiveDir, parseManifest(await readFile(join(archiveDir, 'manifest.json'), 'utf8'), 'manifest')) });
  assert.equal(fromArchive.ok, true, JSON.stringify(fromArchive.first));
  const forged = { ...digestBeforeArchive, rooms: digestBeforeArchive.rooms.map((room) => (room.room_code === '102' ? { ...room, head: 'f'.repeat(64) } : room)) };
  assert.equal((await verifyAuditLog(dbs.unified, { digest: forged })).first?.kind, 'rewritten', "a digest the archived head does not match is caught from the head alone");
  const walked = await roomSync('audit', 'verify', '--archive', archiveDir, '--json');
  assert.equal(walked.code, 0, walked.stdout + walked.stderr);
  const summary = JSON.parse(walked.stdout) as { ok: boolean; rows: number; archive: { files: number; rows: number } };
  assert.equal(summary.ok, true);
  assert.equal(summary.archive.files, 5);
  assert.equal(summary.rows, 5 + (await auditRowCount('101')));

  // Room 102's rows are all archived: its next conflict continues its chain from the archived head.
  await insertLegacyRoom(dbs.legacy, hotel, '102', { rm_typ_cd: 'DBL', rate_amt: 8100, allot_qty: 2, stat_cd: 'A' });
  await insertCloudRoom(dbs.cloud, propertyId, '102', { room_type: 'king', nightly_rate: '90.00', currency: 'EUR', available_count: 3, is_active: true });
  await waitFor('a live conflict for room 102', async () => (await auditRowCount('102')) > 0);
  const first102 = await dbs.unified.selectFrom('conflict_audit').select('prev_hash').where('room_code', '=', '102').orderBy('id').executeTakeFirstOrThrow();
  const manifest = parseManifest(await readFile(join(archiveDir, 'manifest.json'), 'utf8'), 'manifest');
  const archivedHead = manifest.files.find((file) => file.table === 'conflict_audit' && file.month === september)?.heads?.find((head) => head.room_code === '102');
  assert.equal(first102.prev_hash, archivedHead?.head, "the live row links to the room's archived head");
  assert.equal((await roomSync('audit', 'verify')).code, 0);
  const again = await roomSync('audit', 'verify', '--archive', archiveDir);
  assert.equal(again.code, 0, again.stdout);
  assert.match(again.stdout, /ok: the archive's 5 file\(s\) match/);
});

test('audit explain --archive answers for a moment whose history is archived; without it, exit 2 saying so', async () => {
  const room = `${hotel}/101`;
  const explained = await roomSync('audit', 'explain', '--room', room, '--at', at(september, '25T00:00:00'), '--archive', archiveDir, '--json');
  assert.equal(explained.code, 0, explained.stderr);
  const body = JSON.parse(explained.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['hotel_code', 'room_code', 'at', 'hotel_class', 'policy_version', 'fields']);
  assert.deepEqual(body, {
    hotel_code: hotel,
    room_code: '101',
    at: new Date(at(september, '25T00:00:00')).toISOString(),
    hotel_class: 'legacy-managed',
    policy_version: 'archived-test@1',
    fields: {
      rate: { value: eur(12000), source: 'legacy', rule: 'legacy-managed/rate: owner legacy', since: new Date(at(september, '10T10:00:00')).toISOString(), legacy_value: eur(12000), cloud_value: eur(12500) },
      availability: { value: 3, source: 'cloud', rule: 'legacy-managed/availability: owner cloud', since: new Date(at(september, '10T10:00:00')).toISOString(), legacy_value: 2, cloud_value: 3 },
      room_type: { value: 'double', source: 'legacy', rule: 'legacy-managed/room_type: owner legacy', since: new Date(at(september, '10T10:00:00')).toISOString(), legacy_value: 'double', cloud_value: 'king' },
      status: { value: 'open', source: 'cloud', rule: 'legacy-managed/status: owner cloud', since: new Date(at(september, '10T10:00:00')).toISOString(), legacy_value: 'open', cloud_value: 'open' },
    },
  });
  const inOctober = JSON.parse((await roomSync('audit', 'explain', '--room', room, '--at', at(october, '20T00:00:00'), '--archive', archiveDir, '--json')).stdout) as {
    fields: { rate: { value: unknown; since: string } };
  };
  assert.deepEqual(inOctober.fields.rate.value, eur(12500));
  assert.equal(inOctober.fields.rate.since, new Date(at(october, '05T10:00:00')).toISOString());
  // Now, with the archive: the live value, and the availability's run reaching back into the archive.
  const now = JSON.parse((await roomSync('audit', 'explain', '--room', room, '--archive', archiveDir, '--json')).stdout) as { fields: { rate: { value: unknown } } };
  assert.deepEqual(now.fields.rate.value, eur(13100));
  const readable = await roomSync('audit', 'explain', '--room', room, '--at', at(october, '20T00:00:00'), '--archive', archiveDir);
  assert.equal(readable.code, 0);
  assert.match(readable.stdout, /legacy 12500 EUR|125\.00 EUR/);
  assert.match(readable.stdout, /the 3 newest conflict\(s\) up to then/);

  const withoutArchive = await roomSync('audit', 'explain', '--room', room, '--at', at(september, '25T00:00:00'), '--json');
  assert.equal(withoutArchive.code, 2);
  assert.match(withoutArchive.stderr, /did not exist yet .* is archived: add --archive DIR/);
});

test('an altered, a missing archive file or an edited manifest is named; a re-run of archive changes nothing', async () => {
  const altered = join(workDir, 'altered');
  await cp(archiveDir, altered, { recursive: true });
  const file = join(altered, `conflict_audit-${september}.jsonl.gz`);
  const text = gunzipSync(await readFile(file)).toString('utf8').replace('"rate_minor": 12100', '"rate_minor": 99');
  assert.match(text, /"rate_minor": 99/, 'the edit took');
  await writeFile(file, gzipSync(text));
  const historyFile = join(altered, `unified_field_history-${september}.jsonl.gz`);
  const historyText = gunzipSync(await readFile(historyFile)).toString('utf8').replace('"rate_minor": 12000', '"rate_minor": 99');
  assert.match(historyText, /"rate_minor": 99/);
  await writeFile(historyFile, gzipSync(historyText));
  const tampered = await roomSync('audit', 'verify', '--archive', altered);
  assert.equal(tampered.code, 1);
  assert.match(tampered.stdout, new RegExp(`archive file conflict_audit-${september}\\.jsonl\\.gz: its sha256 is [0-9a-f]+, the manifest says`));
  const explainTampered = await roomSync('audit', 'explain', '--room', `${hotel}/101`, '--at', at(september, '25T00:00:00'), '--archive', altered, '--json');
  assert.equal(explainTampered.code, 2, 'explain does not answer from an altered file');
  assert.match(explainTampered.stderr, new RegExp(`unified_field_history-${september}\\.jsonl\\.gz: its sha256 is [0-9a-f]+, the manifest says`));

  const missing = join(workDir, 'missing');
  await cp(archiveDir, missing, { recursive: true });
  await rm(join(missing, `unified_field_history-${october}.jsonl.gz`));
  const gone = await roomSync('audit', 'verify', '--archive', missing);
  assert.equal(gone.code, 1);
  assert.match(gone.stdout, new RegExp(`archive file unified_field_history-${october}\\.jsonl\\.gz: missing from`));

  // The file and the manifest rewritten together: the database's record of the checksum still tells.
  const rewritten = join(workDir, 'rewritten');
  await cp(altered, rewritten, { recursive: true });
  const manifestPath = join(rewritten, 'manifest.json');
  const manifest = parseManifest(await readFile(manifestPath, 'utf8'), 'manifest');
  const { createHash } = await import('node:crypto');
  const newSum = createHash('sha256').update(await readFile(join(rewritten, `conflict_audit-${september}.jsonl.gz`))).digest('hex');
  await writeFile(manifestPath, JSON.stringify({ ...manifest, files: manifest.files.map((entry) => (entry.table === 'conflict_audit' && entry.month === september ? { ...entry, sha256: newSum } : entry)) }));
  const edited = await roomSync('audit', 'verify', '--archive', rewritten);
  assert.equal(edited.code, 1);
  assert.match(edited.stdout, /the manifest was edited/);

  // Another database's archive folder is not this one's.
  const foreign = join(workDir, 'foreign');
  await cp(archiveDir, foreign, { recursive: true });
  const foreignManifest = JSON.parse(await readFile(join(foreign, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(foreign, 'manifest.json'), JSON.stringify({ ...foreignManifest, database: 'another_inventory' }));
  const mixed = await roomSync('audit', 'archive', '--before', boundary, '--to', foreign);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /holds the archive of database another_inventory/);

  const before = await stat(join(archiveDir, `conflict_audit-${september}.jsonl.gz`));
  const manifestBefore = await readFile(join(archiveDir, 'manifest.json'), 'utf8');
  const rerun = await roomSync('audit', 'archive', '--before', boundary, '--to', archiveDir);
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, /nothing left to archive/);
  assert.match(rerun.stdout, new RegExp(`skipped conflict_audit ${september}: already archived into`));
  assert.equal((await stat(join(archiveDir, `conflict_audit-${september}.jsonl.gz`))).mtimeMs, before.mtimeMs);
  assert.equal(await readFile(join(archiveDir, 'manifest.json'), 'utf8'), manifestBefore);
});

test("the pipeline's role still only reads and appends, on the parents, every partition and nothing of the archive", async () => {
  await ensureUnifiedPipelineRole(dbs.urls.unified, () => undefined);
  const asPipeline = dbs.pipeline.unified;
  const { rows: partitions } = await sql<{ name: string }>`
    SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname IN ('conflict_audit', 'unified_field_history') AND c.relkind = 'r'`.execute(dbs.unified);
  for (const table of ['conflict_audit', 'unified_field_history', ...partitions.map((row) => row.name)]) {
    await sql`SELECT count(*) FROM ${sql.table(table)}`.execute(asPipeline);
    await assert.rejects(sql`UPDATE ${sql.table(table)} SET rule = rule`.execute(asPipeline), /permission denied/, `UPDATE ${table}`);
    await assert.rejects(sql`DELETE FROM ${sql.table(table)}`.execute(asPipeline), /permission denied/, `DELETE ${table}`);
    await assert.rejects(sql`TRUNCATE ${sql.table(table)}`.execute(asPipeline), /permission denied/, `TRUNCATE ${table}`);
    await assert.rejects(sql`ALTER TABLE ${sql.table(table)} DISABLE TRIGGER USER`.execute(asPipeline), /must be owner/, `DISABLE TRIGGER ${table}`);
  }
  await assert.rejects(sql`SELECT count(*) FROM ${sql.table(`audit_archive.conflict_audit_p${compact(september)}`)}`.execute(asPipeline), /permission denied/);
  await assert.rejects(sql`DELETE FROM audit_archived_months`.execute(asPipeline), /permission denied/);
});

test('a row for a month without a partition lands in DEFAULT, and archive refuses that month with a clear message', async () => {
  // Written through the pipeline's own role: the insert never fails for want of a partition.
  await insertConflict(dbs.pipeline.unified, pastConflict('199', at(stranded, '15T12:00:00'), 5000, 5500, '0/D1'));
  assert.deepEqual(await partitionOf('conflict_audit', '199'), ['conflict_audit_default']);
  const refused = await roomSync('audit', 'archive', '--before', monthFromNow(-4), '--to', join(workDir, 'stranded'));
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, new RegExp(`1 row\\(s\\) of conflict_audit for ${stranded} sit in the DEFAULT partition`));
  assert.ok((await attached()).includes('conflict_audit_default'));
  // The owner's partition upkeep leaves that month to DEFAULT and never recreates an archived one.
  const created = await sql<{ created: string }>`SELECT audit_ensure_partitions(24) AS created`.execute(dbs.unified);
  assert.ok(!created.rows.some((row) => row.created.endsWith(compact(stranded)) || row.created.endsWith(compact(september))), JSON.stringify(created.rows));
});

test('migration 0007 converts the audit tables in place: every row with its id, the sequences, CHECKs and the append-only guard on every partition', async () => {
  const name = `rs_test_archive_migration_${process.pid}`;
  const url = new URL(dbs.urls.unified);
  url.pathname = `/${name}`;
  await ensureDatabase(adminUrlFor(dbs.urls.unified), url.toString(), () => undefined);
  const db = createUnifiedDb(createPool(url.toString(), { maxConnections: 2 }));
  try {
    await migrateTo(db, '2026_12_02_0006_monitor_alerts');
    // Rows of three months, chained as the apply chains them; ids with a gap, as a rolled-back insert leaves.
    const rows = chainRows(null, [
      pastConflict('101', at(september, '10T10:00:00'), 100, 200, '0/1'),
      pastConflict('101', at(october, '10T10:00:00'), 110, 200, '0/2'),
      pastConflict('101', at(current, '01T00:00:00'), 120, 200, '0/3'),
    ]);
    for (const row of rows) await insertConflict(db, row);
    await sql`SELECT nextval('conflict_audit_id_seq')`.execute(db);
    await sql`
      INSERT INTO unified_field_history (hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value, applied_at)
      VALUES ('ARC1', '101', 'rate', '{"rate_minor": 100, "currency": "EUR"}', 'legacy', 'r', 'p', 'legacy-managed', '1', '2', ${at(september, '10T10:00:00')}::timestamptz),
             ('ARC1', '101', 'rate', '{"rate_minor": 110, "currency": "EUR"}', 'legacy', 'r', 'p', 'legacy-managed', '1', '2', ${at(october, '10T10:00:00')}::timestamptz)`.execute(db);
    // The room as the apply stored it before 0008: its chain and field heads are backfilled from the rows.
    await sql`INSERT INTO room_sources (hotel_code, room_code, legacy, cloud, legacy_hotel) VALUES ('ARC1', '101', NULL, NULL, NULL)`.execute(db);
    const snapshot = async () =>
      (await sql<{ row: string }>`
        SELECT to_jsonb(t)::text AS row FROM conflict_audit t
        UNION ALL SELECT to_jsonb(h)::text FROM unified_field_history h ORDER BY 1`.execute(db)).rows.map((row) => row.row);
    const before = await snapshot();

    await migrateToLatest(db);
    assert.deepEqual(await snapshot(), before, 'every row, ids included, as it was');
    assert.deepEqual(await partitionsOfRows(db), [
      `conflict_audit_p${compact(september)}`,
      `conflict_audit_p${compact(october)}`,
      `conflict_audit_p${compact(current)}`,
      `unified_field_history_p${compact(september)}`,
      `unified_field_history_p${compact(october)}`,
    ]);
    const { rows: next } = await sql<{ id: string }>`SELECT nextval('conflict_audit_id_seq')::text AS id`.execute(db);
    assert.equal(next[0]?.id, '5', 'the id sequence goes on where it was (4 was taken by the rolled-back insert)');
    assert.equal((await verifyAuditLog(db)).ok, true, 'the chain still holds');
    const heads = await db.selectFrom('room_sources').select(['chain_head', 'field_heads']).where('room_code', '=', '101').executeTakeFirstOrThrow();
    assert.equal(heads.chain_head, rows[2]?.row_hash, "the stored chain head is the room's newest row");
    assert.deepEqual(Object.keys(heads.field_heads), ['rate']);
    assert.deepEqual((heads.field_heads as { rate?: { value: unknown } }).rate?.value, { rate_minor: 110, currency: 'EUR' }, 'the newest rate entry');
    // The guard, on the parent and directly on a partition; the CHECKs still hold.
    await assert.rejects(sql`UPDATE conflict_audit SET rule = 'x'`.execute(db), /append-only/);
    await assert.rejects(sql`DELETE FROM ${sql.table(`conflict_audit_p${compact(september)}`)}`.execute(db), /append-only/);
    await assert.rejects(sql`TRUNCATE ${sql.table(`conflict_audit_p${compact(september)}`)}`.execute(db), /append-only/);
    await assert.rejects(sql`TRUNCATE conflict_audit`.execute(db), /append-only/);
    await assert.rejects(sql`TRUNCATE unified_field_history_default`.execute(db), /append-only/);
    await assert.rejects(sql`DELETE FROM unified_field_history`.execute(db), /append-only/);
    await assert.rejects(
      sql`INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version, hotel_class, trigger_source, trigger_position)
          VALUES ('H', 'R', 'price', '1', '1', '1', 'legacy', 'r', 'p', 'c', 'legacy', '0/9')`.execute(db),
      /conflict_audit_field_check/,
    );
    // Partitions run 24 months ahead; running the upkeep again creates nothing.
    assert.ok((await attachedNames(db)).includes(`conflict_audit_p${compact(monthFromNow(24))}`));
    assert.deepEqual(await ensureAuditPartitions(db), []);
  } finally {
    await db.destroy();
    await dropDatabase(adminUrlFor(dbs.urls.unified), name);
  }
});

async function partitionsOfRows(db: Kysely<UnifiedDatabase>): Promise<string[]> {
  const { rows } = await sql<{ partition: string }>`
    SELECT DISTINCT tableoid::regclass::text AS partition FROM conflict_audit
    UNION SELECT DISTINCT tableoid::regclass::text FROM unified_field_history ORDER BY 1`.execute(db);
  return rows.map((row) => row.partition);
}

async function attachedNames(db: Kysely<UnifiedDatabase>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname IN ('conflict_audit', 'unified_field_history')`.execute(db);
  return rows.map((row) => row.name);
}
