// What a reconcile costs: `npm run bench:reconcile -- [--rooms 100000] [--keep]`.
// Seeds N rooms per source in databases of its own (rs_reconcile_*), stores them as the
// pipeline's apply would (the real apply activity, no Temporal needed), edits a few stored
// values behind its back, then runs `room-sync reconcile --json` in a child process and
// prints seconds, the reconcile process's peak RSS and the load on the sources (their
// backends' CPU, rows read per second). Prints figures; asserts nothing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createApplyRoomChanges } from '../src/activities/apply-room-changes.js';
import { createPool, createUnifiedDb } from '../src/db/connect.js';
import { makePosition } from '../src/domain/position.js';
import { sourceNames, type SourceName } from '../src/domain/room.js';
import type { SourceChange } from '../src/mapping/change.js';
import { mapCloudRoom } from '../src/mapping/cloud.js';
import { mapLegacyRoom } from '../src/mapping/legacy.js';
import { loadPolicy } from '../src/policy/load.js';
import type { ReconcileResult } from '../src/reconcile/run.js';
import { projectRoot } from '../src/setup/source-schemas.js';
import { databaseUrl, type DatabaseNames } from './config.js';
import { dropDatabases, recreateDatabases } from './databases.js';
import { readMemory, readStat } from './proc-stats.js';

const { values: args } = parseArgs({ options: { rooms: { type: 'string', default: '100000' }, keep: { type: 'boolean', default: false } } });
const rooms = Number(args.rooms);
if (!Number.isInteger(rooms) || rooms < 100) throw new Error('--rooms wants a whole number of at least 100');
const roomsPerHotel = 100;
const hotels = Math.ceil(rooms / roomsPerHotel);
/** Every 50th hotel's room 7 gets its stored cloud availability edited: drift the reconcile must find. */
const driftEvery = 50;

const names: DatabaseNames = { legacy: 'rs_reconcile_legacy', cloud: 'rs_reconcile_cloud', unified: 'rs_reconcile_unified' };
const urls = { legacy: databaseUrl('legacy', names), cloud: databaseUrl('cloud', names), unified: databaseUrl('unified', names) };
const say = (message: string) => process.stdout.write(`[bench:reconcile] ${message}\n`);
const seconds = (since: number) => (performance.now() - since) / 1000;

say(`${rooms.toLocaleString('en')} rooms per source in ${hotels} hotels; databases ${Object.values(names).join(', ')}`);
await recreateDatabases(names, say, { benchTables: false });
const legacy = createPool(urls.legacy, { maxConnections: 2 });
const cloud = createPool(urls.cloud, { maxConnections: 2 });
const unified = createUnifiedDb(createPool(urls.unified, { maxConnections: 4 }));

try {
  // ---- the sources
  let started = performance.now();
  await legacy.query(
    `INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd)
     SELECT 'R' || lpad(h::text, 6, '0'), 'Hotel ' || h, (ARRAY['L', 'C', 'F'])[1 + h % 3], (ARRAY['EUR', 'USD', 'JPY'])[1 + h % 3]
       FROM generate_series(1, $1) AS h`,
    [hotels],
  );
  await legacy.query(
    `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr)
     SELECT 'R' || lpad((1 + (n - 1) / $2)::text, 6, '0'), (1 + (n - 1) % $2)::text, (ARRAY['DBL', 'KNG', 'TWN', 'STE'])[1 + n % 4],
            10000 + n % 5000, n % 12, CASE WHEN n % 17 = 0 THEN 'X' ELSE 'A' END, 'bench'
       FROM generate_series(1, $1) AS n`,
    [rooms, roomsPerHotel],
  );
  await cloud.query(
    `INSERT INTO properties (id, external_code, display_name, timezone)
     SELECT gen_random_uuid(), 'r' || lpad(h::text, 6, '0'), 'Hotel ' || h, 'Europe/Berlin' FROM generate_series(1, $1) AS h`,
    [hotels],
  );
  await cloud.query(
    `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
     SELECT gen_random_uuid(), p.id, (1 + (n - 1) % $2)::text, (ARRAY['double', 'king', 'twin'])[1 + n % 3], (90 + n % 200)::numeric(12,2),
            'EUR', n % 9, n % 13 <> 0
       FROM generate_series(1, $1) AS n
       JOIN properties p ON p.external_code = 'r' || lpad((1 + (n - 1) / $2)::text, 6, '0')`,
    [rooms, roomsPerHotel],
  );
  say(`sources seeded in ${seconds(started).toFixed(1)} s`);

  // ---- what the pipeline would store: the real apply, a batch of 500 changes per transaction
  started = performance.now();
  const position = makePosition('0/10', 1);
  const commitTime = new Date().toISOString();
  // The legacy properties as the legacy connector records them.
  const properties = await legacy.query<{ prop_cd: string; mgmt_typ: string; crncy_cd: string }>('SELECT prop_cd, mgmt_typ, crncy_cd FROM htl_property');
  for (let i = 0; i < properties.rows.length; i += 1_000) {
    const page = properties.rows.slice(i, i + 1_000).map((row) => ({
      hotel_code: row.prop_cd.trim().toUpperCase(),
      present: true,
      mgmt_typ: row.mgmt_typ.trim().toUpperCase(),
      currency: row.crncy_cd.trim().toUpperCase(),
      position: makePosition('0/8', 1),
      commit_time: commitTime,
      updated_at: commitTime,
    }));
    await unified.insertInto('legacy_hotels').values(page).execute();
  }
  const apply = createApplyRoomChanges({ db: unified, policy: await loadPolicy(join(projectRoot, 'policies/default.yaml')) });
  const hotelOf = new Map((await cloud.query<{ id: string; external_code: string }>('SELECT id, external_code FROM properties')).rows.map((row) => [row.id, row.external_code.trim().toUpperCase()]));
  const changesOf = async (source: SourceName): Promise<SourceChange[]> => {
    const pool = source === 'legacy' ? legacy : cloud;
    const { rows } = await pool.query<Record<string, unknown>>(source === 'legacy' ? 'SELECT * FROM htl_room_inv' : 'SELECT * FROM room_inventory');
    return rows.flatMap((row): SourceChange[] => {
      const mapped = source === 'legacy' ? mapLegacyRoom(row) : mapCloudRoom(row, (id) => hotelOf.get(id));
      if (!mapped.ok) return [];
      return [{ kind: 'room', source, hotelCode: mapped.value.room.hotelCode, roomCode: mapped.value.room.roomCode, position, commitTime, values: mapped.value.values }];
    });
  };
  for (const source of sourceNames) {
    const changes = await changesOf(source);
    for (let i = 0; i < changes.length; i += 500) await apply({ changes: changes.slice(i, i + 500) });
    say(`${source}: ${changes.length.toLocaleString('en')} rooms stored through the apply`);
  }
  const drifted = await sql`
    UPDATE room_sources SET cloud = jsonb_set(cloud, '{values,availability}', '999')
     WHERE room_code = '7' AND substr(hotel_code, 2)::int % ${driftEvery} = 0`.execute(unified);
  // No connector runs here: the cursors say the streams are past any snapshot, so confirmation does not wait.
  for (const source of sourceNames) {
    await unified
      .insertInto('cdc_cursors')
      .values({ source, slot_name: `none_${source}`, publication_name: 'none', last_acked_lsn: 'FFFFFFFF/FFFFFFFF', snapshot_completed_at: commitTime })
      .execute();
  }
  say(`unified store filled in ${seconds(started).toFixed(1)} s; ${Number(drifted.numAffectedRows ?? 0)} stored cloud value(s) edited behind the pipeline's back`);
  await sql`VACUUM ANALYZE`.execute(unified);

  // ---- the reconcile, in a process of its own, watched from /proc
  const admin = new pg.Client({ connectionString: urls.unified });
  await admin.connect();
  const sourceBackends = async (): Promise<{ pid: number; datname: string }[]> =>
    (
      await admin.query<{ pid: number; datname: string }>(
        `SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid() AND application_name LIKE 'room-sync%'`,
        [[names.legacy, names.cloud]],
      )
    ).rows;
  // Every room-sync backend on the bench's sources is the reconcile's (no pipeline runs here), forked for it: its CPU counters start at 0.
  const cpuByBackend = new Map<number, { datname: string; last: number }>();
  let peakKiB = 0;
  started = performance.now();
  const child = execFile(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'reconcile', '--json'],
    {
      cwd: projectRoot,
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, LEGACY_DATABASE_URL: urls.legacy, CLOUD_DATABASE_URL: urls.cloud, UNIFIED_DATABASE_URL: urls.unified, LOG_LEVEL: 'warn', METRICS_PORT: '0' },
    },
  );
  let stdout = '';
  child.stdout?.on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.on('data', (chunk: string) => process.stderr.write(chunk));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    if (child.pid !== undefined) peakKiB = Math.max(peakKiB, readMemory(child.pid)?.hwmKiB ?? 0);
    for (const { pid, datname } of await sourceBackends().catch(() => [])) {
      const cpu = readStat(pid)?.cpuSeconds;
      if (cpu === undefined) continue;
      cpuByBackend.set(pid, { datname, last: cpu });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const code = await exited;
  const elapsed = seconds(started);
  await admin.end();
  const result = JSON.parse(stdout) as ReconcileResult;
  const cpu = (database: string) =>
    [...cpuByBackend.values()].filter((backend) => backend.datname === database).reduce((sum, backend) => sum + backend.last, 0);
  say(`reconcile exit ${code} in ${elapsed.toFixed(1)} s (the whole process: node start, both sources, the unified check)`);
  for (const report of result.sources) {
    const c = report.counts;
    say(`  ${report.source}: ${c.compared.toLocaleString('en')} compared: ${c.equal} equal, ${c.newer} newer, ${c.drifted} drifted, ${c.missing} missing, ${c.extra} extra, ${c.unmappable} unmappable`);
  }
  say(`  unified: ${result.unified.rooms.toLocaleString('en')} rows checked, ${result.unified.roomsDiffering} differ`);
  say(`peak RSS of the reconcile process: ${(peakKiB / 1024).toFixed(0)} MiB (VmHWM, sampled every 100 ms)`);
  say(`source rows read: ${((2 * rooms + 2 * hotels) / elapsed).toFixed(0)} rows/s over the whole run`);
  say(
    `source backends' CPU (sampled from /proc; the snapshot's read and the walsender of the temporary slot): legacy ${cpu(names.legacy).toFixed(2)} s, cloud ${cpu(names.cloud).toFixed(2)} s`,
  );
} finally {
  await legacy.end();
  await cloud.end();
  await unified.destroy();
  if (!args.keep) await dropDatabases(names);
}
