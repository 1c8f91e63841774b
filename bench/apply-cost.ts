// `npm run bench:apply-cost`: what one single-change apply costs Postgres and the caller, through
// the real apply activity code, on scratch unified databases holding 1, 26 and 109 monthly audit
// partitions with rows (one month; what `migrate` creates, 24 months ahead; seven years kept as well).
// Postgres CPU is the apply connection's backend process, read from /proc/<pid>/stat; wall is the
// caller's. Rounds alternate between the databases so a busy machine weighs on each alike; compare
// ratios taken in one run, not figures across runs.
import { Command, Option } from 'commander';
import { sql, type Kysely } from 'kysely';
import { randomBytes } from 'node:crypto';
import { createApplyRoomChanges } from '../src/activities/apply-room-changes.js';
import { createPool, createUnifiedDb } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { UnifiedDatabase } from '../src/db/schema.js';
import { bigIntToLsn, makePosition } from '../src/domain/position.js';
import type { SourceChange } from '../src/mapping/change.js';
import { loadPolicy } from '../src/policy/load.js';
import { adminUrlFor, dropDatabase, ensureDatabase } from '../src/setup/postgres.js';
import { readStat } from './proc-stats.js';

const options = new Command('bench:apply-cost')
  .addOption(
    new Option('--layouts <list>', 'one scratch database each: one-month (the current month and DEFAULT), migrate (24 months ahead), seven-years (migrate and 84 past months)').default(
      'one-month,migrate,seven-years',
    ),
  )
  .addOption(new Option('--applies <n>', 'timed single-change applies per database and round').default('200'))
  .addOption(new Option('--rounds <n>', 'rounds, alternating the databases').default('3'))
  .addOption(new Option('--rooms <n>', 'rooms the applies cycle through').default('200'))
  .addOption(new Option('--rows-per-month <n>', 'audit and field history rows in each past month').default('300'))
  .addOption(new Option('--variants <list>', 'apply variants timed on every database, alternated: prepared (named prepared statements), plain (unnamed)').default('prepared'))
  .addOption(new Option('--keep', 'leave the scratch databases in place'))
  .parse()
  .opts<{ layouts: string; variants: string; applies: string; rounds: string; rooms: string; rowsPerMonth: string; keep?: boolean }>();

const baseUrl = process.env['UNIFIED_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/unified_inventory';
const adminUrl = adminUrlFor(baseUrl);
const hotel = 'APC1';
const layouts = options.layouts.split(',').map((layout) => {
  if (layout === 'one-month') return { layout, pastMonths: 0, dropAhead: true };
  if (layout === 'migrate') return { layout, pastMonths: 0, dropAhead: false };
  if (layout === 'seven-years') return { layout, pastMonths: 84, dropAhead: false };
  throw new Error(`--layouts: unknown layout ${layout} (one-month, migrate, seven-years)`);
});
const applies = Number(options.applies);
const rounds = Number(options.rounds);
const roomCount = Number(options.rooms);
const rowsPerMonth = Number(options.rowsPerMonth);
const variants = options.variants.split(',').map((variant) => {
  if (variant !== 'prepared' && variant !== 'plain') throw new Error(`--variants: unknown variant ${variant} (prepared, plain)`);
  return variant;
});
const log = (message: string) => process.stderr.write(`[apply-cost] ${message}\n`);

interface Scratch {
  readonly label: string;
  readonly name: string;
  readonly db: Kysely<UnifiedDatabase>;
  readonly apply: ReturnType<typeof createApplyRoomChanges>;
  cpuMs: number;
  wallMs: number;
  count: number;
  /** The last apply's result as JSON: what the room workflow's history records per change. */
  resultBytes: number;
}

const roomCode = (n: number) => String(100 + n);
let lsn = 0x10_0000n;
function change(source: 'legacy' | 'cloud', room: number, rateMinor: number): SourceChange {
  lsn += 16n;
  return {
    kind: 'room',
    source,
    hotelCode: hotel,
    roomCode: roomCode(room),
    position: makePosition(bigIntToLsn(lsn), 0),
    commitTime: new Date().toISOString(),
    values: { roomType: 'double', rateMinor, currency: source === 'cloud' ? 'EUR' : null, availability: 5, status: 'open' },
  };
}

/** Past months as partitions with rows of these rooms and others, older than anything the applies write. */
async function fillPastMonths(db: Kysely<UnifiedDatabase>, months: number): Promise<void> {
  for (let back = months; back >= 1; back -= 1) {
    const month = sql`(date_trunc('month', now()) - make_interval(months => ${back}))::date`;
    await sql`SELECT audit_create_month_partition('conflict_audit', ${month})`.execute(db);
    await sql`SELECT audit_create_month_partition('unified_field_history', ${month})`.execute(db);
    await sql`
      INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
                                  hotel_class, legacy_position, legacy_hotel_position, cloud_position, trigger_source, trigger_position, resolved_at)
      SELECT ${hotel}, (100 + n % ${roomCount * 2})::text, 'rate', '{"rate_minor": 1, "currency": "EUR"}', '{"rate_minor": 2, "currency": "EUR"}',
             '{"rate_minor": 1, "currency": "EUR"}', 'legacy', 'default/rate: owner legacy', 'past@1', 'default', '0/1', NULL, '0/2', 'cloud',
             ${`past/${back}/`} || n, ${month}::timestamptz + make_interval(secs => n)
        FROM generate_series(1, ${rowsPerMonth}) AS n`.execute(db);
    await sql`
      INSERT INTO unified_field_history (hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value, applied_at)
      SELECT ${hotel}, (100 + n % ${roomCount * 2})::text, 'rate', '{"rate_minor": 1, "currency": "EUR"}', 'legacy', 'default/rate: owner legacy', 'past@1',
             'default', '{"rate_minor": 1, "currency": "EUR"}', '{"rate_minor": 2, "currency": "EUR"}', ${month}::timestamptz + make_interval(secs => n)
        FROM generate_series(1, ${rowsPerMonth}) AS n`.execute(db);
  }
}

async function monthPartitions(db: Kysely<UnifiedDatabase>): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*)::text AS n FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'conflict_audit'`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

async function prepare({ layout, pastMonths, dropAhead }: (typeof layouts)[number], index: number): Promise<Scratch[]> {
  const name = `rs_applycost_${index}_${randomBytes(3).toString('hex')}`;
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  await ensureDatabase(adminUrl, url.toString(), () => undefined);
  const db = createUnifiedDb(createPool(url.toString(), { maxConnections: 1, applicationName: 'apply-cost-seed' }));
  await migrateToLatest(db);
  if (dropAhead) {
    // One month: the months ahead dropped (empty), the current month and DEFAULT left.
    const { rows } = await sql<{ name: string }>`
      SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname IN ('conflict_audit', 'unified_field_history') AND c.relname ~ '_p[0-9]{6}$'
         AND to_date(right(c.relname, 6), 'YYYYMM') > date_trunc('month', now())`.execute(db);
    for (const partition of rows) await sql`DROP TABLE ${sql.table(partition.name)}`.execute(db);
  }
  await fillPastMonths(db, pastMonths);
  await sql`ANALYZE`.execute(db);
  const policy = await loadPolicy('policies/default.yaml');
  const apply = createApplyRoomChanges({ db, policy });
  // Each room from both sources, rates differing: every later cloud change is a conflict (an audit row, a history row).
  for (let room = 0; room < roomCount; room += 1) await apply({ changes: [change('legacy', room, 10_000), change('cloud', room, 12_000)] });
  const label = `${layout}: ${await monthPartitions(db)} partitions`;
  log(`${name}: ${label}, ${roomCount} rooms seeded`);
  await db.destroy();
  // One connection per variant: each backend's CPU is its variant's alone.
  return variants.map((variant) => {
    const variantDb = createUnifiedDb(createPool(url.toString(), { maxConnections: 1, applicationName: `apply-cost-${variant}`, preparedStatements: variant === 'prepared' }));
    return { label: `${label}, ${variant}`, name, db: variantDb, apply: createApplyRoomChanges({ db: variantDb, policy }), cpuMs: 0, wallMs: 0, count: 0, resultBytes: 0 };
  });
}

let rate = 20_000;
async function timedApplies(scratch: Scratch, count: number): Promise<void> {
  // The pool's one connection: the same backend for the whole batch (an idle one may have been replaced since the last).
  const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(scratch.db);
  const backendPid = rows[0]?.pid ?? 0;
  const before = readStat(backendPid)?.cpuSeconds ?? 0;
  const started = performance.now();
  for (let n = 0; n < count; n += 1) {
    rate += 1;
    const result = await scratch.apply({ changes: [change('cloud', n % roomCount, rate)] });
    scratch.resultBytes = JSON.stringify(result).length;
  }
  scratch.wallMs += performance.now() - started;
  scratch.cpuMs += ((readStat(backendPid)?.cpuSeconds ?? 0) - before) * 1000;
  scratch.count += count;
}

const scratches: Scratch[] = [];
try {
  for (const [index, layout] of layouts.entries()) scratches.push(...(await prepare(layout, index)));
  for (const scratch of scratches) await timedApplies(scratch, 20);
  for (const scratch of scratches) Object.assign(scratch, { cpuMs: 0, wallMs: 0, count: 0 });
  for (let round = 1; round <= rounds; round += 1) {
    for (const scratch of round % 2 === 1 ? scratches : [...scratches].reverse()) await timedApplies(scratch, applies);
    log(`round ${round}/${rounds} done`);
  }
  const first = scratches[0];
  process.stdout.write('database | applies | Postgres CPU ms/apply | wall ms/apply | CPU vs first | result bytes\n--- | --- | --- | --- | --- | ---\n');
  for (const scratch of scratches) {
    const cpu = scratch.cpuMs / scratch.count;
    const ratio = first ? cpu / (first.cpuMs / first.count) : 1;
    process.stdout.write(`${scratch.label} | ${scratch.count} | ${cpu.toFixed(2)} | ${(scratch.wallMs / scratch.count).toFixed(2)} | ${ratio.toFixed(2)} | ${scratch.resultBytes}\n`);
  }
} finally {
  for (const scratch of scratches) await scratch.db.destroy();
  if (!options.keep) for (const name of new Set(scratches.map((scratch) => scratch.name))) await dropDatabase(adminUrl, name);
}

