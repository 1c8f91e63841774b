// Rows the contract says cannot be mapped go to dead_letters (raw row, source, position,
// reason) and the stream goes on; rooms that leave both sources are removed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Policy } from '../../src/policy/schema.js';
import { waitForConvergence } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const properties = { DLQ1: '', DLQJ: '' };

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('deadletters');
  policy = await defaultPolicy();
  await insertLegacyProperty(dbs.legacy, 'DLQ1', 'L', 'EUR');
  await insertLegacyProperty(dbs.legacy, 'DLQJ', 'C', 'JPY');
  properties.DLQ1 = await insertCloudProperty(dbs.cloud, 'DLQ1');
  properties.DLQJ = await insertCloudProperty(dbs.cloud, 'DLQJ');
  // Bad and good rows from before the slot: they come through the snapshot.
  await insertLegacyRoom(dbs.legacy, 'DLQ1', 'S1', { rm_typ_cd: 'XXX', rate_amt: 100, allot_qty: 1, stat_cd: 'A' });
  await insertLegacyRoom(dbs.legacy, 'DLQ1', 'S2', { rm_typ_cd: 'SGL', rate_amt: 100, allot_qty: 1, stat_cd: 'A' });
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

async function deadLetters() {
  return dbs.unified.selectFrom('dead_letters').selectAll().orderBy('id').execute();
}

function rawOf(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`raw is not a row: ${JSON.stringify(raw)}`);
  return Object.fromEntries(Object.entries(raw));
}

const positionPattern = /^[0-9A-F]{16}:[0-9A-F]{8}$/;

test('unmappable rows land in dead_letters with the raw row, source, position and reason; good rows around them flow', async () => {
  const { legacy, cloud } = dbs;
  // Legacy: good, bad, good in one transaction; then more bad rows on their own.
  const client = await legacy.connect();
  try {
    await client.query('BEGIN');
    await insertLegacyRoom(client, 'DLQ1', '101', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' });
    await insertLegacyRoom(client, 'DLQ1', '102', { rm_typ_cd: 'ABC', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' }); // unknown room type code
    await insertLegacyRoom(client, 'DLQ1', '103', { rm_typ_cd: 'TWN', rate_amt: 9900, allot_qty: 2, stat_cd: 'A' });
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await insertLegacyRoom(legacy, 'DLQ1', '   ', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' }); // blank key
  await insertLegacyRoom(legacy, 'DLQ1', '104', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: -1, stat_cd: 'A' }); // negative availability
  await insertLegacyRoom(legacy, 'DLQ1', '105', { rm_typ_cd: 'FAM', rate_amt: 20000, allot_qty: 6, stat_cd: 'X' });

  // Cloud: the same mix.
  await insertCloudRoom(cloud, properties.DLQ1, '101', { room_type: 'double', nightly_rate: '129.00', currency: 'EUR', available_count: 5, is_active: true });
  await insertCloudRoom(cloud, properties.DLQ1, '106', { room_type: 'double', nightly_rate: '100.00', currency: 'XYZ', available_count: 5, is_active: true }); // unknown currency
  await insertCloudRoom(cloud, properties.DLQJ, '201', { room_type: 'twin', nightly_rate: '100.5', currency: 'JPY', available_count: 5, is_active: true }); // fraction of a yen
  await insertCloudRoom(cloud, properties.DLQJ, '202', { room_type: 'twin', nightly_rate: '15000', currency: 'JPY', available_count: 4, is_active: true });
  await insertCloudRoom(cloud, properties.DLQJ, '203', { room_type: 'king', nightly_rate: '18000', currency: 'JPY', available_count: -2, is_active: true }); // negative availability
  await insertCloudRoom(cloud, properties.DLQJ, '  ', { room_type: 'king', nightly_rate: '18000', currency: 'JPY', available_count: 1, is_active: true }); // blank key
  await insertCloudRoom(cloud, properties.DLQJ, '204', { room_type: null, nightly_rate: null, currency: null, available_count: null, is_active: false });

  const reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'the good rows' });
  for (const key of ['DLQ1/101', 'DLQ1/103', 'DLQ1/105', 'DLQ1/S2', 'DLQJ/202', 'DLQJ/204']) assert.ok(reference.rooms.has(key), key);
  for (const key of ['DLQ1/102', 'DLQ1/104', 'DLQ1/106', 'DLQ1/S1', 'DLQJ/201', 'DLQJ/203']) assert.ok(!reference.rooms.has(key), `${key} has no unified row`);
  assert.equal((await dbs.unified.selectFrom('unified_rooms').select('room_code').where('room_code', '=', '').execute()).length, 0, 'no blank key');

  const letters = await waitFor('all eight dead letters', async () => {
    const rows = await deadLetters();
    return rows.length >= 8 ? rows : undefined;
  });
  const summary = letters.map((letter) => {
    const raw = rawOf(letter.raw);
    return {
      source: letter.source,
      table: letter.table_name,
      room: String(raw['rm_nbr'] ?? raw['room_code']),
      reason: letter.reason,
    };
  });
  const expected: { source: string; table: string; room: string; reason: RegExp }[] = [
    { source: 'legacy', table: 'public.htl_room_inv', room: 'S1', reason: /room type.*XXX/ },
    { source: 'legacy', table: 'public.htl_room_inv', room: '102', reason: /room type.*ABC/ },
    { source: 'legacy', table: 'public.htl_room_inv', room: '   ', reason: /blank/ },
    { source: 'legacy', table: 'public.htl_room_inv', room: '104', reason: /negative availability/ },
    { source: 'cloud', table: 'public.room_inventory', room: '106', reason: /unknown currency.*XYZ/ },
    { source: 'cloud', table: 'public.room_inventory', room: '201', reason: /fraction of a minor unit/ },
    { source: 'cloud', table: 'public.room_inventory', room: '203', reason: /negative availability/ },
    { source: 'cloud', table: 'public.room_inventory', room: '  ', reason: /blank/ },
  ];
  assert.equal(summary.length, expected.length, JSON.stringify(summary));
  for (const want of expected) {
    const found = summary.find((letter) => letter.source === want.source && letter.room === want.room);
    assert.ok(found, `dead letter for ${want.source} ${JSON.stringify(want.room)}`);
    assert.equal(found.table, want.table);
    assert.match(found.reason, want.reason);
  }
  // The contract's list of unmappable rows, from the test's own reference, is exactly what was dead-lettered.
  assert.equal(reference.unmappable.length, expected.length);

  for (const letter of letters) {
    assert.match(letter.position, positionPattern, 'a source position');
    assert.notEqual(letter.commit_time, null);
    const raw = rawOf(letter.raw);
    if (letter.source === 'legacy') {
      assert.equal(raw['prop_cd'], 'DLQ1    ', 'the raw row, blanks and all');
      assert.ok('rate_amt' in raw && 'allot_qty' in raw && 'lst_upd_ts' in raw, 'every column of the raw row');
    } else {
      assert.ok('nightly_rate' in raw && 'currency' in raw && 'attributes' in raw, 'every column of the raw row');
    }
  }
  const fraction = letters.find((letter) => rawOf(letter.raw)['room_code'] === '201');
  assert.equal(rawOf(fraction?.raw)['nightly_rate'], '100.50', 'numeric kept as its exact decimal text');
  // Dead letters of one transaction share its commit position and keep their order in it.
  // Its position is the change's own: the second change (ordinal 2) of its transaction.
  assert.match(letters.find((letter) => rawOf(letter.raw)['rm_nbr'] === '102')?.position ?? '', /:00000002$/);
});

test('an update that makes a good row unmappable is dead-lettered and leaves the room as it was', async () => {
  const { legacy, unified } = dbs;
  const before = await unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'DLQ1').where('room_code', '=', '103').executeTakeFirstOrThrow();
  const lettersBefore = (await deadLetters()).length;
  await legacy.query(`UPDATE htl_room_inv SET rm_typ_cd = 'QQQ', rate_amt = 1 WHERE prop_cd = 'DLQ1' AND rm_nbr = '103'`);
  // A good change after it, so we know the stream went past the bad one.
  await legacy.query(`UPDATE htl_room_inv SET allot_qty = 4 WHERE prop_cd = 'DLQ1' AND rm_nbr = '105'`);
  await waitFor('the later good change', async () => {
    const row = await unified.selectFrom('unified_rooms').select('availability').where('hotel_code', '=', 'DLQ1').where('room_code', '=', '105').executeTakeFirst();
    return row?.availability === 4;
  });
  const letters = await deadLetters();
  assert.equal(letters.length, lettersBefore + 1);
  assert.match(letters.at(-1)?.reason ?? '', /room type.*QQQ/);
  assert.deepEqual(
    await unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'DLQ1').where('room_code', '=', '103').executeTakeFirstOrThrow(),
    before,
    'the room keeps its last good values',
  );
  // Corrected at the source, the row flows again.
  await legacy.query(`UPDATE htl_room_inv SET rm_typ_cd = 'STE' WHERE prop_cd = 'DLQ1' AND rm_nbr = '103'`);
  await waitForConvergence(dbs, policy.policyVersion, { description: 'the corrected row' });
  assert.equal(
    (await unified.selectFrom('unified_rooms').select('rate_minor').where('hotel_code', '=', 'DLQ1').where('room_code', '=', '103').executeTakeFirstOrThrow()).rate_minor,
    '1',
  );
});

test("a room marked 'D' in legacy and deleted in cloud is removed, with availability 0", async () => {
  const { legacy, cloud, unified } = dbs;
  const room = async (code: string) =>
    unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'DLQ1').where('room_code', '=', code).executeTakeFirstOrThrow();
  await insertLegacyRoom(legacy, 'DLQ1', '301', { rm_typ_cd: 'KNG', rate_amt: 15000, allot_qty: 2, stat_cd: 'A' });
  const cloud301 = await insertCloudRoom(cloud, properties.DLQ1, '301', { room_type: 'king', nightly_rate: '150.00', currency: 'EUR', available_count: 2, is_active: true });
  await insertLegacyRoom(legacy, 'DLQ1', '302', { rm_typ_cd: 'KNG', rate_amt: 15000, allot_qty: 2, stat_cd: 'A' });
  const cloud302 = await insertCloudRoom(cloud, properties.DLQ1, '302', { room_type: 'king', nightly_rate: '150.00', currency: 'EUR', available_count: 2, is_active: true });
  await waitForConvergence(dbs, policy.policyVersion);

  // 301: legacy first, then cloud.
  await legacy.query(`UPDATE htl_room_inv SET stat_cd = 'D' WHERE prop_cd = 'DLQ1' AND rm_nbr = '301'`);
  await waitForConvergence(dbs, policy.policyVersion, { description: "legacy's D" });
  const half = await room('301');
  assert.deepEqual([half.status, half.availability, half.room_type_source, half.rate_source], ['open', 2, 'cloud', 'cloud'], 'legacy left: cloud values as fallback');
  await cloud.query('DELETE FROM room_inventory WHERE id = $1', [cloud301]);
  // 302: cloud first, then legacy.
  await cloud.query('DELETE FROM room_inventory WHERE id = $1', [cloud302]);
  await waitForConvergence(dbs, policy.policyVersion, { description: 'the cloud DELETE', knownKeys: ['DLQ1/301'] });
  assert.equal((await room('302')).status_source, 'legacy', 'cloud left: legacy status as fallback');
  await legacy.query(`UPDATE htl_room_inv SET stat_cd = 'D' WHERE prop_cd = 'DLQ1' AND rm_nbr = '302'`);
  await waitForConvergence(dbs, policy.policyVersion, { description: 'both rooms removed' });

  for (const code of ['301', '302']) {
    const removed = await room(code);
    assert.equal(removed.status, 'removed', code);
    assert.equal(removed.availability, 0, code);
  }
  const { rows: bookable } = await dbs.unifiedPool.query<{ room_code: string; sellable: boolean; sellable_availability: number }>(
    `SELECT room_code, sellable, sellable_availability FROM bookable_rooms WHERE hotel_code = 'DLQ1' AND room_code IN ('301', '302') ORDER BY room_code`,
  );
  assert.deepEqual(bookable, [
    { room_code: '301', sellable: false, sellable_availability: 0 },
    { room_code: '302', sellable: false, sellable_availability: 0 },
  ]);
});
