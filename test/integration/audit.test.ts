// What legal and ops run (`room-sync audit explain|verify|digest|check`), on the real pipeline:
// rooms with conflicts and changes over time, then the log tampered with as a superuser can
// (triggers off with session_replication_role = replica): an edited, a removed and a reordered
// row, a truncated tail; and a unified row edited behind the pipeline's back.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { checkUnifiedRooms, type RoomDifference } from '../../src/audit/check.js';
import { buildDigest, parseDigest } from '../../src/audit/digest.js';
import { explainRoom, parseInstant, type RoomExplanation } from '../../src/audit/explain.js';
import { describeProblem, verifyAuditLog, type VerifyResult } from '../../src/audit/verify.js';
import type { Policy } from '../../src/policy/schema.js';
import { cliEnvironment, runRoomSync, type CliRun } from '../support/cli.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
let propertyId: string;
let workDir: string;

const hotel = 'AUD1';
/** 101: the room whose story explain tells; 102–105: one tampering case each. */
const rooms = ['101', '102', '103', '104', '105'] as const;

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('audit');
  policy = await defaultPolicy();
  workDir = await mkdtemp(join(tmpdir(), 'room-sync-audit-'));
  // Legacy-managed: rate and room_type from legacy, availability and status from cloud.
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  propertyId = await insertCloudProperty(dbs.cloud, hotel);
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// ---- helpers ---------------------------------------------------------------------------------------------

/** `room-sync ...` as ops run it, in a child process on the suite's databases. */
function roomSync(...args: string[]): Promise<CliRun> {
  return runRoomSync(cliEnvironment(dbs), args);
}

async function unifiedRoom(room: string) {
  return dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', room).executeTakeFirst();
}

async function auditRows(room: string) {
  return dbs.unified.selectFrom('conflict_audit').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', room).orderBy('id').execute();
}

async function historyRows(room: string): Promise<number> {
  const row = await dbs.unified
    .selectFrom('unified_field_history')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('hotel_code', '=', hotel)
    .where('room_code', '=', room)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Waits until the room's applied state satisfies `done`, then returns the moment just after (the worker runs on this clock). */
async function applied(description: string, room: string, done: (row: NonNullable<Awaited<ReturnType<typeof unifiedRoom>>>, history: number) => boolean): Promise<string> {
  await waitFor(description, async () => {
    const row = await unifiedRoom(room);
    return row !== undefined && done(row, await historyRows(room));
  });
  const at = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 25));
  return at;
}

/** A superuser session with the append-only triggers off, for the length of `edit`. */
async function asSuperuserWithoutTriggers(edit: (query: (text: string, values?: unknown[]) => Promise<unknown>) => Promise<unknown>): Promise<void> {
  const client = await dbs.unifiedPool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    await edit((text, values) => client.query(text, values));
  } finally {
    await client.query('RESET session_replication_role');
    client.release();
  }
}

function never(): never {
  throw new Error('expected a problem');
}

async function verify(options: Parameters<typeof verifyAuditLog>[1] = {}): Promise<VerifyResult> {
  return verifyAuditLog(dbs.unified, { pageSize: 7, ...options });
}

// ---- the story -------------------------------------------------------------------------------------------

/** The moments test 1 records, for the later tests. */
const moments: Record<string, string> = {};

test('the pipeline records each room over time; explain tells what was true at any moment since', async () => {
  const { legacy, cloud } = dbs;
  for (const room of rooms) {
    await insertLegacyRoom(legacy, hotel, room, { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 4, stat_cd: 'A' });
    await insertCloudRoom(cloud, propertyId, room.toLowerCase(), { room_type: 'king', nightly_rate: '135.00', currency: 'EUR', available_count: 7, is_active: true });
  }
  for (const room of rooms) {
    await applied(`room ${room} from both sources`, room, (row) => row.availability === 7 && row.room_type === 'double' && row.rate_minor === '12900');
  }
  moments['first'] = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 25));

  // 101 changes: a legacy rate (wins), a legacy allotment (loses: availability stays 7, its legacy value moves),
  // a cloud availability (wins), the room closed in cloud (wins).
  await legacy.query(`UPDATE htl_room_inv SET rate_amt = 14050 WHERE prop_cd = $1 AND rm_nbr = '101'`, [hotel]);
  moments['rate'] = await applied('the legacy rate', '101', (row) => row.rate_minor === '14050');
  const beforeAllotment = await historyRows('101');
  await legacy.query(`UPDATE htl_room_inv SET allot_qty = 5 WHERE prop_cd = $1 AND rm_nbr = '101'`, [hotel]);
  moments['allotment'] = await applied('the legacy allotment (a losing value)', '101', (_row, history) => history > beforeAllotment);
  await cloud.query(`UPDATE room_inventory SET available_count = 2 WHERE property_id = $1 AND room_code = '101'`, [propertyId]);
  moments['availability'] = await applied('the cloud availability', '101', (row) => row.availability === 2);
  await cloud.query(`UPDATE room_inventory SET is_active = false WHERE property_id = $1 AND room_code = '101'`, [propertyId]);
  moments['closed'] = await applied('the room closed', '101', (row) => row.status === 'closed');
  // The other rooms get a second round of conflicts, so every chain has a middle.
  for (const room of rooms.slice(1)) await legacy.query(`UPDATE htl_room_inv SET rate_amt = 13000, rm_typ_cd = 'TWN' WHERE prop_cd = $1 AND rm_nbr = $2`, [hotel, room]);
  for (const room of rooms.slice(1)) await applied(`room ${room}'s second change`, room, (row) => row.rate_minor === '13000' && row.room_type === 'twin');

  const explain = (at: string | undefined) => explainRoom(dbs.unified, { hotelCode: hotel, roomCode: '101' }, at === undefined ? {} : { at: parseInstant(at) });
  const eur = (minor: number) => ({ rate_minor: minor, currency: 'EUR' });
  const first = await explain(moments['first']);
  assert.deepEqual(
    { ...first, fields: Object.fromEntries(Object.entries(first.fields).map(([field, entry]) => [field, { ...entry, since: typeof entry.since }])) },
    {
      hotel_code: hotel,
      room_code: '101',
      at: moments['first'],
      hotel_class: 'legacy-managed',
      policy_version: policy.policyVersion,
      fields: {
        rate: { value: eur(12900), source: 'legacy', rule: 'legacy-managed/rate: owner legacy', since: 'string', legacy_value: eur(12900), cloud_value: eur(13500) },
        availability: { value: 7, source: 'cloud', rule: 'legacy-managed/availability: owner cloud', since: 'string', legacy_value: 4, cloud_value: 7 },
        room_type: { value: 'double', source: 'legacy', rule: 'legacy-managed/room_type: owner legacy', since: 'string', legacy_value: 'double', cloud_value: 'king' },
        status: { value: 'open', source: 'cloud', rule: 'legacy-managed/status: owner cloud', since: 'string', legacy_value: 'open', cloud_value: 'open' },
      },
    },
    'at the first moment: what both sources first said, legacy-managed precedence',
  );
  assert.deepEqual(Object.keys(first), ['hotel_code', 'room_code', 'at', 'hotel_class', 'policy_version', 'fields'], "the contract's keys, in its order");
  assert.deepEqual(Object.keys(first.fields.rate.value ?? {}), ['rate_minor', 'currency']);
  const born = first.fields.availability.since ?? '';
  assert.ok(born <= (moments['first'] ?? ''), 'since is not after the moment asked about');

  const afterRate = await explain(moments['rate']);
  assert.deepEqual(afterRate.fields.rate.value, eur(14050));
  assert.ok((afterRate.fields.rate.since ?? '') > (moments['first'] ?? ''), 'the new rate is the unified one since its apply');
  assert.ok((afterRate.fields.rate.since ?? '') <= (moments['rate'] ?? ''));
  assert.equal(afterRate.fields.availability.value, 7);

  const afterAllotment = await explain(moments['allotment']);
  assert.deepEqual([afterAllotment.fields.availability.value, afterAllotment.fields.availability.legacy_value], [7, 5], 'the losing legacy value moved');
  assert.equal(afterAllotment.fields.availability.since, born, 'the unified availability has been 7 since the room appeared: a new source value does not restart since');

  const afterAvailability = await explain(moments['availability']);
  assert.deepEqual([afterAvailability.fields.availability.value, afterAvailability.fields.status.value], [2, 'open']);
  assert.ok((afterAvailability.fields.availability.since ?? '') > (moments['allotment'] ?? ''));

  const now = await explain(undefined);
  assert.deepEqual(
    [now.fields.rate.value, now.fields.availability.value, now.fields.room_type.value, now.fields.status.value, now.fields.status.cloud_value],
    [eur(14050), 2, 'double', 'closed', 'closed'],
  );
  assert.equal(now.fields.rate.since, afterRate.fields.rate.since, 'since a value became the unified one, whatever changed since in other fields');
  // The same moment asked in another zone is the same answer.
  const plusOne = new Date(Date.parse(moments['rate'] ?? '') + 3_600_000).toISOString().replace('Z', '+01:00');
  assert.deepEqual((await explain(plusOne)).fields, afterRate.fields);

  // The command: the same JSON, on stdout.
  const cli = await roomSync('audit', 'explain', '--room', 'aud1/101', '--at', moments['rate'] ?? '', '--json');
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout) as RoomExplanation, afterRate);
  const readable = await roomSync('audit', 'explain', '--room', `${hotel}/101`);
  assert.equal(readable.code, 0, readable.stderr);
  assert.match(readable.stdout, /rate\s+140\.50 EUR\s+from legacy/);
  assert.match(readable.stdout, /#\d+ .* rate: legacy \{.*\} vs cloud \{.*\} → legacy/, 'and the audit rows up to then');
});

test('explain refuses an unknown room, a moment before the room existed, and a moment without a zone: exit 2', async () => {
  const unknown = await roomSync('audit', 'explain', '--room', `${hotel}/999`, '--json');
  assert.deepEqual([unknown.code, unknown.stdout], [2, '']);
  assert.match(unknown.stderr, /unknown room AUD1\/999/);
  const tooEarly = await roomSync('audit', 'explain', '--room', `${hotel}/101`, '--at', '2020-01-01T00:00:00Z', '--json');
  assert.deepEqual([tooEarly.code, tooEarly.stdout], [2, '']);
  assert.match(tooEarly.stderr, /did not exist yet at 2020-01-01T00:00:00\.000Z/);
  const noZone = await roomSync('audit', 'explain', '--room', `${hotel}/101`, '--at', '2026-12-01T10:00:00', '--json');
  assert.equal(noZone.code, 2);
  assert.match(noZone.stderr, /no zone/);
  const noRoom = await roomSync('audit', 'explain', '--json');
  assert.equal(noRoom.code, 2);
});

test('verify passes on the intact log, and names the row edited, removed or reordered', async () => {
  const intact = await verify();
  assert.equal(intact.ok, true, JSON.stringify(intact.problems));
  assert.ok(intact.rows >= 20 && intact.rooms === rooms.length, `rows ${intact.rows}, rooms ${intact.rooms}`);
  assert.equal(intact.unchainedRows, 0);
  const cli = await roomSync('audit', 'verify');
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, new RegExp(`^ok: ${intact.rows} audit row\\(s\\) in ${rooms.length} room\\(s\\) intact`));

  // An edited row: 102's second row says another source won.
  const edited = (await auditRows('102'))[1];
  assert.ok(edited);
  await asSuperuserWithoutTriggers((query) => query(`UPDATE conflict_audit SET winning_value = '{"rate_minor": 1, "currency": "EUR"}' WHERE id = $1`, [edited.id]));
  const afterEdit = await verify();
  assert.deepEqual([afterEdit.ok, afterEdit.first?.kind, afterEdit.first?.id, afterEdit.problems.length], [false, 'altered', edited.id, 1]);
  const editCli = await roomSync('audit', 'verify', '--json');
  assert.equal(editCli.code, 1);
  assert.deepEqual((JSON.parse(editCli.stdout) as { first: unknown }).first, afterEdit.first);
  const editText = await roomSync('audit', 'verify');
  assert.equal(editText.code, 1);
  assert.match(editText.stdout, new RegExp(`^audit row ${edited.id} altered \\(room AUD1/102\\)`));
  await asSuperuserWithoutTriggers((query) => query(`UPDATE conflict_audit SET winning_value = $2::jsonb WHERE id = $1`, [edited.id, JSON.stringify(edited.winning_value)]));
  assert.equal((await verify()).ok, true, 'restored');

  // A removed row: 103's second row.
  const jsonColumns = new Set(['legacy_value', 'cloud_value', 'winning_value']);
  const removed = (await auditRows('103'))[1];
  assert.ok(removed);
  await asSuperuserWithoutTriggers((query) => query('DELETE FROM conflict_audit WHERE id = $1', [removed.id]));
  const afterDelete = await verify();
  assert.deepEqual([afterDelete.ok, afterDelete.first?.kind, afterDelete.first?.id], [false, 'missing', removed.id]);
  assert.match(describeProblem(afterDelete.first ?? never()), new RegExp(`^audit row ${removed.id} missing \\(room AUD1/103\\)`));
  await asSuperuserWithoutTriggers(async (query) => {
    const columns = Object.keys(removed);
    await query(
      `INSERT INTO conflict_audit (${columns.join(', ')}) VALUES (${columns.map((_, n) => `$${n + 1}`).join(', ')})`,
      columns.map((column) => {
        const value = (removed as Record<string, unknown>)[column];
        return jsonColumns.has(column) ? JSON.stringify(value) : value;
      }),
    );
  });
  assert.equal((await verify()).ok, true, 'restored');

  // Two rows of 104 trade places (ids swapped: each row's content and hashes now sit at the other's id).
  const [, second, , fourth] = await auditRows('104');
  assert.ok(second && fourth);
  const swap = (a: string, b: string) =>
    asSuperuserWithoutTriggers(async (query) => {
      await query('UPDATE conflict_audit SET id = -1 WHERE id = $1', [a]);
      await query('UPDATE conflict_audit SET id = $1 WHERE id = $2', [a, b]);
      await query('UPDATE conflict_audit SET id = $1 WHERE id = -1', [b]);
    });
  await swap(second.id, fourth.id);
  const afterSwap = await verify();
  assert.deepEqual([afterSwap.ok, afterSwap.first?.kind, afterSwap.first?.id], [false, 'out-of-order', second.id]);
  assert.match(describeProblem(afterSwap.first ?? never()), new RegExp(`^audit row ${second.id} out-of-order \\(room AUD1/104\\)`));
  await swap(second.id, fourth.id);
  assert.equal((await verify()).ok, true, 'restored');

  // The chain head the apply continues from (room_sources.chain_head), edited: 102's head set to the hash of its first row.
  const rows102 = await auditRows('102');
  const [first102, last102] = [rows102[0], rows102.at(-1)];
  assert.ok(first102?.row_hash && last102?.row_hash && first102.id !== last102.id);
  const storedHead = () => dbs.unified.selectFrom('room_sources').select('chain_head').where('hotel_code', '=', hotel).where('room_code', '=', '102').executeTakeFirstOrThrow();
  assert.equal((await storedHead()).chain_head, last102.row_hash, 'the apply keeps the head of the live chain');
  await dbs.unified.updateTable('room_sources').set({ chain_head: first102.row_hash }).where('hotel_code', '=', hotel).where('room_code', '=', '102').execute();
  const afterHead = await verify();
  assert.deepEqual([afterHead.ok, afterHead.first?.kind, afterHead.first?.id, afterHead.problems.length], [false, 'stored-head', last102.id, 1]);
  assert.match(describeProblem(afterHead.first ?? never()), new RegExp(`^audit row ${last102.id} stored-head \\(room AUD1/102\\): the chain head the apply continues from`));
  const headCli = await roomSync('audit', 'verify');
  assert.equal(headCli.code, 1, headCli.stdout);
  assert.match(headCli.stdout, new RegExp(`^audit row ${last102.id} stored-head \\(room AUD1/102\\)`));
  await dbs.unified.updateTable('room_sources').set({ chain_head: last102.row_hash }).where('hotel_code', '=', hotel).where('room_code', '=', '102').execute();
  assert.equal((await verify()).ok, true, 'restored');
});

test('a truncated tail fails plain verify (the stored head) and, with the stored head edited to match, verify --digest taken before it', async () => {
  const digestRun = await roomSync('audit', 'digest');
  assert.equal(digestRun.code, 0, digestRun.stderr);
  const digestFile = join(workDir, 'digest.json');
  await writeFile(digestFile, digestRun.stdout);
  const digest = JSON.parse(digestRun.stdout) as { fingerprint: string; rows: number; rooms: { room_code: string; head_id: string; rows: number }[] };
  assert.match(digestRun.stderr, new RegExp(`fingerprint ${digest.fingerprint}`));
  const intact = await verify({ collectHeads: true });
  assert.equal(digest.fingerprint, buildDigest(intact.heads, new Date()).fingerprint, 'the command digests what verify walks');
  assert.equal(digest.rows, intact.rows);

  // The log goes on after the digest: still an extension of it.
  await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 13100 WHERE prop_cd = $1 AND rm_nbr = '105'`, [hotel]);
  await applied("105's change after the digest", '105', (row) => row.rate_minor === '13100');
  const extended = await roomSync('audit', 'verify', '--digest', digestFile);
  assert.equal(extended.code, 0, extended.stdout + extended.stderr);
  assert.match(extended.stdout, new RegExp(`extends digest ${digest.fingerprint}`));
  const asJson = await roomSync('audit', 'verify', '--digest', digestRun.stdout, '--json');
  assert.equal(asJson.code, 0, asJson.stdout + asJson.stderr);

  // 105's newest rows removed down to before the digest's head: the chain left is intact, shorter than the digest saw.
  const rows105 = await auditRows('105');
  const head = digest.rooms.find((room) => room.room_code === '105');
  assert.ok(head);
  const tail = rows105.filter((row) => BigInt(row.id) >= BigInt(head.head_id));
  await asSuperuserWithoutTriggers(async (query) => {
    for (const row of tail) await query('DELETE FROM conflict_audit WHERE id = $1', [row.id]);
  });
  const plain = await roomSync('audit', 'verify');
  assert.equal(plain.code, 1, `the stored head is the removed tail's: ${plain.stdout}`);
  assert.match(plain.stdout, /^audit row \d+ stored-head \(room AUD1\/105\)/);
  // Whoever removed the tail also moves the stored head back: the chain left is intact, only the digest tells.
  const newHead = rows105[rows105.length - tail.length - 1]?.row_hash ?? null;
  await dbs.unified.updateTable('room_sources').set({ chain_head: newHead }).where('hotel_code', '=', hotel).where('room_code', '=', '105').execute();
  const moved = await roomSync('audit', 'verify');
  assert.equal(moved.code, 0, `a truncated tail with its head moved leaves an intact chain: ${moved.stdout}`);
  const against = await roomSync('audit', 'verify', '--digest', digestFile);
  assert.equal(against.code, 1, against.stdout);
  assert.match(against.stdout, new RegExp(`^audit row ${head.head_id} truncated \\(room AUD1/105\\)`));
  const result = await verify({ digest: parseDigest(digestRun.stdout, 'digest') });
  assert.deepEqual([result.first?.kind, result.first?.id, result.problems.length], ['truncated', head.head_id, 1]);

  // A digest edited to match the shorter log is refused: it no longer hashes to its fingerprint.
  const forged = parseDigest(digestRun.stdout, 'digest');
  const shortened = forged.rooms.map((room) => (room.room_code === '105' ? { ...room, rows: room.rows - tail.length, head: rows105[rows105.length - tail.length - 1]?.row_hash ?? null } : room));
  await writeFile(join(workDir, 'forged.json'), JSON.stringify({ ...forged, rows: forged.rows - tail.length, rooms: shortened }));
  const refused = await roomSync('audit', 'verify', '--digest', join(workDir, 'forged.json'));
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /the document was edited/);
});

test('check finds no difference between the unified rows and their sources, then the one edited behind its back', async () => {
  const differences: RoomDifference[] = [];
  const clean = await checkUnifiedRooms(dbs.unified, policy, { onDifference: (difference) => differences.push(difference), pageSize: 2 });
  assert.deepEqual([clean.rooms, clean.differences, differences], [rooms.length, 0, []]);
  const cli = await roomSync('audit', 'check');
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /^ok: 5 unified row\(s\) checked/m);

  await dbs.unified.updateTable('unified_rooms').set({ availability: 99 }).where('hotel_code', '=', hotel).where('room_code', '=', '103').execute();
  const tampered = await checkUnifiedRooms(dbs.unified, policy, { onDifference: (difference) => differences.push(difference) });
  assert.equal(tampered.differences, 1);
  assert.deepEqual(differences, [{ room: 'AUD1/103', column: 'availability', unified: '99 from cloud', recomputed: '7 from cloud' }]);
  const reported = await roomSync('audit', 'check');
  assert.equal(reported.code, 1);
  assert.match(reported.stdout, /^AUD1\/103 availability: unified 99 from cloud, recomputed 7 from cloud$/m);
  assert.equal((await checkUnifiedRooms(dbs.unified, policy, { room: { hotelCode: hotel, roomCode: '102' } })).differences, 0, 'the others are as they were');
  const unknown = await roomSync('audit', 'check', '--room', `${hotel}/999`);
  assert.equal(unknown.code, 2);
});
