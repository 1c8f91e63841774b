// Both sources written at once, on the real services: Postgres logical replication →
// connectors → Temporal room-group workflows → apply activity. The unified view must equal
// what the test's own reference (test/support/reference.ts) computes from the final
// source tables, and the conflict audit must hold exactly the conflicts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Policy } from '../../src/policy/schema.js';
import { auditProblems, auditValue, duplicateAuditTriggers, readAudit, waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { computeReference, expectedView, readSourceTables, readUnifiedRooms, roomKey, type Source, type Value } from '../support/reference.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom, Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
const workload = new Workload(standardHotels(6), new Rng(seed));

before(async () => {
  console.log(`sync.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('sync');
  policy = await defaultPolicy();
  // Rows that exist before the slots do: they arrive through the snapshot.
  await workload.seed(dbs.legacy, dbs.cloud);
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

interface ExpectedAudit {
  readonly field: 'rate' | 'availability' | 'room_type' | 'status';
  readonly legacy: Value;
  readonly cloud: Value;
  readonly winner: Source;
}

const eur = (rate_minor: number) => ({ rate_minor, currency: 'EUR' });

test('sequential changes, one at a time: exact unified rows and exact conflict_audit rows', async () => {
  const { legacy, cloud, unified } = dbs;
  await insertLegacyProperty(legacy, 'SEQL1', 'L', 'EUR');
  await insertLegacyProperty(legacy, 'SEQC1', 'C', 'JPY');
  await insertLegacyProperty(legacy, 'SEQF1', 'F', 'GBP');
  const propertyL = await insertCloudProperty(cloud, 'SEQL1');
  const propertyC = await insertCloudProperty(cloud, 'SEQC1');
  const propertyF = await insertCloudProperty(cloud, 'SEQF1');
  const propertyX = await insertCloudProperty(cloud, 'SEQX1'); // a hotel legacy does not have
  let auditTotal = 0;

  /**
   * Writes one change, waits until the room's row carries the written source's new
   * position and equals the reference, then checks the audit rows that change added.
   */
  const step = async (label: string, hotel: string, room: string, source: Source, write: () => Promise<unknown>, audits: readonly ExpectedAudit[]) => {
    const positionColumn = source === 'legacy' ? 'legacy_position' : 'cloud_position';
    const before = await unified
      .selectFrom('unified_rooms')
      .select(positionColumn)
      .where('hotel_code', '=', hotel)
      .where('room_code', '=', room)
      .executeTakeFirst();
    const lastId = (await readAudit(unified)).at(-1)?.id ?? '0';
    await write();
    const position = await waitFor(
      `${label}: ${hotel}/${room} to take the ${source} change`,
      async () => {
        const row = await unified
          .selectFrom('unified_rooms')
          .selectAll()
          .where('hotel_code', '=', hotel)
          .where('room_code', '=', room)
          .executeTakeFirst();
        const now = row?.[positionColumn] ?? null;
        return now === null || now === (before?.[positionColumn] ?? null) ? undefined : now;
      },
      { timeoutMs: 60_000 },
    );
    // The unified row and the audit rows are written in one transaction: both are final now.
    const reference = computeReference(await readSourceTables(legacy, cloud), policy.policyVersion);
    assert.deepEqual((await readUnifiedRooms(unified)).get(roomKey(hotel, room)), expectedView(reference).get(roomKey(hotel, room)), `${label}: unified row`);
    const added = (await readAudit(unified)).filter(
      (row) => BigInt(row.id) > BigInt(lastId) && row.hotel_code === hotel && row.room_code === room,
    );
    assert.deepEqual(
      added.map((row) => ({
        room: `${row.hotel_code}/${row.room_code}`,
        field: row.field,
        legacy: auditValue(row.legacy_value),
        cloud: auditValue(row.cloud_value),
        winning: auditValue(row.winning_value),
        winner: row.winning_source,
        trigger: `${row.trigger_source} ${row.trigger_position}`,
      })),
      audits.map((audit) => ({
        room: `${hotel}/${room}`,
        field: audit.field,
        legacy: audit.legacy,
        cloud: audit.cloud,
        winning: audit.winner === 'legacy' ? audit.legacy : audit.cloud,
        winner: audit.winner,
        trigger: `${source} ${position}`,
      })),
      `${label}: audit rows`,
    );
    for (const row of added) {
      assert.match(row.rule, new RegExp(`owner ${row.winning_source}`), `${label}: rule names the owner`);
      assert.equal(row.policy_version, policy.policyVersion);
      assert.notEqual(row.legacy_position, null, `${label}: legacy position`);
      assert.notEqual(row.cloud_position, null, `${label}: cloud position`);
      assert.ok(row.resolved_at instanceof Date);
    }
    auditTotal += added.length;
  };

  // A legacy-managed hotel (EUR): legacy owns rate and room type, cloud availability and status.
  await step('L1 legacy insert', 'SEQL1', '101', 'legacy', () => insertLegacyRoom(legacy, 'SEQL1', ' 101 ', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 4, stat_cd: 'A' }), []);
  const cloud101 = '00000000-0000-4000-8000-000000000101';
  await step(
    'L2 cloud insert',
    'SEQL1',
    '101',
    'cloud',
    () => insertCloudRoom(cloud, propertyL, '101', { room_type: 'king', nightly_rate: '135.00', currency: 'EUR', available_count: 7, is_active: true }, cloud101),
    [
      { field: 'rate', legacy: eur(12900), cloud: eur(13500), winner: 'legacy' },
      { field: 'availability', legacy: 4, cloud: 7, winner: 'cloud' },
      { field: 'room_type', legacy: 'double', cloud: 'king', winner: 'legacy' },
    ],
  );
  await step('L3 cloud agrees on availability', 'SEQL1', '101', 'cloud', () => cloud.query('UPDATE room_inventory SET available_count = 4 WHERE id = $1', [cloud101]), []);
  await step('L4 legacy availability differs', 'SEQL1', '101', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET allot_qty = 2 WHERE prop_cd = 'SEQL1' AND rm_nbr = ' 101 '`), [
    { field: 'availability', legacy: 2, cloud: 4, winner: 'cloud' },
  ]);
  await step('L5 legacy rate agrees with cloud', 'SEQL1', '101', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET rate_amt = 13500 WHERE prop_cd = 'SEQL1' AND rm_nbr = ' 101 '`), []);
  await step('L6 cloud closes the room', 'SEQL1', '101', 'cloud', () => cloud.query('UPDATE room_inventory SET is_active = false WHERE id = $1', [cloud101]), [
    { field: 'status', legacy: 'open', cloud: 'closed', winner: 'cloud' },
  ]);
  await step('L7 legacy change of no unified field', 'SEQL1', '101', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET lst_upd_usr = 'nobody' WHERE prop_cd = 'SEQL1' AND rm_nbr = ' 101 '`), []);
  await step('L8 legacy closes too', 'SEQL1', '101', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET stat_cd = 'X' WHERE prop_cd = 'SEQL1' AND rm_nbr = ' 101 '`), []);
  await step('L9 cloud rate in another currency', 'SEQL1', '101', 'cloud', () => cloud.query(`UPDATE room_inventory SET nightly_rate = 140.50, currency = 'USD' WHERE id = $1`, [cloud101]), [
    { field: 'rate', legacy: eur(13500), cloud: { rate_minor: 14050, currency: 'USD' }, winner: 'legacy' },
  ]);
  await step('L10 cloud deletes the room', 'SEQL1', '101', 'cloud', () => cloud.query('DELETE FROM room_inventory WHERE id = $1', [cloud101]), []);
  await step('L11 legacy alone', 'SEQL1', '101', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET rm_typ_cd = 'STE' WHERE prop_cd = 'SEQL1' AND rm_nbr = ' 101 '`), []);
  await step(
    'L12 cloud brings the room back',
    'SEQL1',
    '101',
    'cloud',
    () => insertCloudRoom(cloud, propertyL, '101', { room_type: 'suite', nightly_rate: '135.00', currency: 'EUR', available_count: 2, is_active: true }),
    [{ field: 'status', legacy: 'closed', cloud: 'open', winner: 'cloud' }],
  );

  // A cloud-managed hotel in JPY (no minor unit): cloud owns everything.
  const cloudA1 = '00000000-0000-4000-8000-0000000000a1';
  await step('C1 cloud first', 'SEQC1', 'A1', 'cloud', () => insertCloudRoom(cloud, propertyC, 'a1', { room_type: 'twin', nightly_rate: '18000', currency: 'JPY', available_count: 3, is_active: true }, cloudA1), []);
  await step('C2 legacy arrives', 'SEQC1', 'A1', 'legacy', () => insertLegacyRoom(legacy, 'SEQC1', 'a1', { rm_typ_cd: 'TWN', rate_amt: 15000, allot_qty: 3, stat_cd: 'A' }), [
    { field: 'rate', legacy: { rate_minor: 15000, currency: 'JPY' }, cloud: { rate_minor: 18000, currency: 'JPY' }, winner: 'cloud' },
  ]);
  await step('C3 two legacy fields in one change', 'SEQC1', 'A1', 'legacy', () => legacy.query(`UPDATE htl_room_inv SET rm_typ_cd = 'KNG', allot_qty = 1 WHERE prop_cd = 'SEQC1'`), [
    { field: 'availability', legacy: 1, cloud: 3, winner: 'cloud' },
    { field: 'room_type', legacy: 'king', cloud: 'twin', winner: 'cloud' },
  ]);

  // A franchise (F → default class) in GBP: legacy owns the rate only.
  await step('F1 legacy', 'SEQF1', '201', 'legacy', () => insertLegacyRoom(legacy, 'SEQF1', '201', { rm_typ_cd: 'SGL', rate_amt: 11000, allot_qty: 5, stat_cd: 'A' }), []);
  const cloud201 = '00000000-0000-4000-8000-000000000201';
  await step('F2 cloud', 'SEQF1', '201', 'cloud', () => insertCloudRoom(cloud, propertyF, '201', { room_type: 'single', nightly_rate: '119.99', currency: 'GBP', available_count: 5, is_active: true }, cloud201), [
    { field: 'rate', legacy: { rate_minor: 11000, currency: 'GBP' }, cloud: { rate_minor: 11999, currency: 'GBP' }, winner: 'legacy' },
  ]);
  await step('F3 cloud room type', 'SEQF1', '201', 'cloud', () => cloud.query(`UPDATE room_inventory SET room_type = 'double' WHERE id = $1`, [cloud201]), [
    { field: 'room_type', legacy: 'single', cloud: 'double', winner: 'cloud' },
  ]);

  // A hotel only the cloud has: default class, the rate falls back to cloud.
  await step('X1 cloud-only hotel', 'SEQX1', '301', 'cloud', () => insertCloudRoom(cloud, propertyX, '301', { room_type: 'family', nightly_rate: '155.25', currency: 'USD', available_count: 0, is_active: true }), []);
  const x = await unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'SEQX1').executeTakeFirstOrThrow();
  assert.equal(x.hotel_class, 'default');
  assert.equal(x.rate_source, 'cloud');
  assert.equal(x.rate_minor, '15525');

  const sequential = (await readAudit(unified)).filter((row) => row.hotel_code.startsWith('SEQ'));
  assert.equal(sequential.length, auditTotal, 'no audit row for these rooms beyond the ones checked step by step');
});

test('two concurrent writers on the same rooms: unified equals the reference, one audit row per conflict', { timeout: 180_000 }, async () => {
  const started = Date.now();
  const transactions = await workload.runWriters(dbs.legacy, dbs.cloud, 130);
  const wrote = Date.now() - started;
  const { reference, audit } = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 90_000 });
  console.log(`sync.test: ${transactions} transactions written in ${wrote} ms, settled ${Date.now() - started} ms after the first write`);

  const view = expectedView(reference);
  assert.ok(transactions >= 250, `${transactions} transactions`);
  // The random workload really covered what it claims to.
  const rows = [...view.values()];
  for (const hotelClass of ['legacy-managed', 'cloud-managed', 'default']) assert.ok(rows.some((row) => row.hotel_class === hotelClass), hotelClass);
  for (const currency of ['EUR', 'JPY', 'KWD', 'USD', 'GBP']) assert.ok(rows.some((row) => row.currency === currency), currency);
  assert.ok(rows.some((row) => row.status === 'closed'));

  // Settled means: unified equals the reference and every audit row passes auditProblems (see test/support/assertions.ts).
  assert.ok(audit.length > 20, `only ${audit.length} audit rows`);
  assert.deepEqual(auditProblems(audit, reference, policy.policyVersion), []);
  assert.equal(await duplicateAuditTriggers(dbs.unified), 0);
  // Settled again (heartbeats went by, every workflow idle): nothing more arrived, no late duplicate.
  const again = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys });
  assert.equal(again.audit.length, audit.length);
});
