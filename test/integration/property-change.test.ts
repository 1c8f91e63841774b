// A legacy property change (mgmt_typ, crncy_cd) changes every room of its hotel: the
// class, hence who owns which field, and the currency of every legacy rate.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Policy } from '../../src/policy/schema.js';
import { auditProblems, auditValue, readAudit, waitForConvergence, type AuditRow } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('property');
  policy = await defaultPolicy();
  const { legacy, cloud } = dbs;
  // PCH1 (legacy-managed, EUR): 101 in both sources, 102 only in legacy, 103 only in cloud.
  await insertLegacyProperty(legacy, 'PCH1', 'L', 'EUR');
  await insertLegacyRoom(legacy, 'PCH1', '101', { rm_typ_cd: 'KNG', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' });
  await insertLegacyRoom(legacy, 'PCH1', ' 102', { rm_typ_cd: 'TWN', rate_amt: 9900, allot_qty: 2, stat_cd: 'A' });
  const pch1 = await insertCloudProperty(cloud, 'PCH1');
  await insertCloudRoom(cloud, pch1, '101', { room_type: 'double', nightly_rate: '129.00', currency: 'EUR', available_count: 3, is_active: true });
  await insertCloudRoom(cloud, pch1, '103', { room_type: 'suite', nightly_rate: '250.00', currency: 'EUR', available_count: 1, is_active: true });
  // PCH2: a control hotel that nothing below may touch.
  await insertLegacyProperty(legacy, 'PCH2', 'L', 'EUR');
  await insertLegacyRoom(legacy, 'PCH2', '201', { rm_typ_cd: 'DBL', rate_amt: 10000, allot_qty: 1, stat_cd: 'A' });
  const pch2 = await insertCloudProperty(cloud, 'PCH2');
  await insertCloudRoom(cloud, pch2, '201', { room_type: 'double', nightly_rate: '110.00', currency: 'EUR', available_count: 1, is_active: true });
  // PCH3: only the cloud has it, until legacy gets the property.
  const pch3 = await insertCloudProperty(cloud, 'PCH3');
  await insertCloudRoom(cloud, pch3, '301', { room_type: 'single', nightly_rate: '80.00', currency: 'GBP', available_count: 5, is_active: true });
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

async function unifiedRoom(hotel: string, room: string) {
  return dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', room).executeTakeFirstOrThrow();
}

async function auditSince(rows: readonly AuditRow[]): Promise<AuditRow[]> {
  return (await readAudit(dbs.unified)).slice(rows.length);
}

const hotelPosition = async (hotel: string) =>
  (await dbs.unified.selectFrom('legacy_hotels').select('position').where('hotel_code', '=', hotel).executeTakeFirstOrThrow()).position;

test('crncy_cd and mgmt_typ changes re-resolve every room of the hotel, cloud-only rooms included', async () => {
  const { legacy, unified } = dbs;
  let reference = await waitForConvergence(dbs, policy.policyVersion);
  const control = await unifiedRoom('PCH2', '201');
  assert.equal((await unifiedRoom('PCH1', '103')).hotel_class, 'legacy-managed', 'a cloud-only room takes its hotel class from legacy');
  assert.equal((await unifiedRoom('PCH3', '301')).hotel_class, 'default', 'a hotel legacy does not have');

  // 1. EUR → USD: legacy's 12900 is now USD 129.00 while cloud still says EUR 129.00: a rate conflict.
  let before = await readAudit(unified);
  await legacy.query(`UPDATE htl_property SET crncy_cd = 'USD' WHERE prop_cd = 'PCH1'`);
  reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'the currency change' });
  assert.deepEqual(
    [(await unifiedRoom('PCH1', '101')).currency, (await unifiedRoom('PCH1', '102')).currency, (await unifiedRoom('PCH1', '103')).currency],
    ['USD', 'USD', 'EUR'],
  );
  const currencyPosition = await hotelPosition('PCH1');
  const currencyAudit = await auditSince(before);
  assert.deepEqual(
    currencyAudit.map((row) => ({
      room: `${row.hotel_code}/${row.room_code}`,
      field: row.field,
      legacy: auditValue(row.legacy_value),
      cloud: auditValue(row.cloud_value),
      winning: auditValue(row.winning_value),
      winner: row.winning_source,
      hotelClass: row.hotel_class,
      trigger: `${row.trigger_source} ${row.trigger_position}`,
      hotelPosition: row.legacy_hotel_position,
    })),
    [
      {
        room: 'PCH1/101',
        field: 'rate',
        legacy: { rate_minor: 12900, currency: 'USD' },
        cloud: { rate_minor: 12900, currency: 'EUR' },
        winning: { rate_minor: 12900, currency: 'USD' },
        winner: 'legacy',
        hotelClass: 'legacy-managed',
        trigger: `legacy ${currencyPosition}`,
        hotelPosition: currencyPosition,
      },
    ],
  );
  assert.match(currencyAudit[0]?.rule ?? '', /owner legacy/);
  assert.notEqual(currencyAudit[0]?.legacy_position, null);
  assert.notEqual(currencyAudit[0]?.cloud_position, null);

  // 2. L → C: cloud now owns everything; the legacy-only room falls back to legacy, the cloud-only room is re-classed.
  await legacy.query(`UPDATE htl_property SET mgmt_typ = 'C' WHERE prop_cd = 'PCH1'`);
  reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'the class change' });
  const [r101, r102, r103] = [await unifiedRoom('PCH1', '101'), await unifiedRoom('PCH1', '102'), await unifiedRoom('PCH1', '103')];
  assert.deepEqual([r101.hotel_class, r102.hotel_class, r103.hotel_class], ['cloud-managed', 'cloud-managed', 'cloud-managed']);
  assert.deepEqual(
    [r101.rate_source, r101.currency, r101.rate_minor, r101.room_type_source, r101.room_type],
    ['cloud', 'EUR', '12900', 'cloud', 'double'],
    'provenance of the room both sources have moved to cloud',
  );
  assert.deepEqual(
    [r102.rate_source, r102.availability_source, r102.room_type_source, r102.status_source, r102.currency],
    ['legacy', 'legacy', 'legacy', 'legacy', 'USD'],
    'the legacy-only room: every field a fallback to legacy',
  );

  // 3. A currency change and a room change in one legacy transaction: the room's rate is read in the new currency.
  before = await readAudit(unified);
  const legacyPositionBefore = (await unifiedRoom('PCH1', '101')).legacy_position;
  const client = await legacy.connect();
  try {
    await client.query('BEGIN');
    await client.query(`UPDATE htl_property SET crncy_cd = 'JPY' WHERE prop_cd = 'PCH1'`);
    await client.query(`UPDATE htl_room_inv SET rate_amt = 15000 WHERE prop_cd = 'PCH1' AND rm_nbr = '101'`);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'the currency and rate change' });
  // Cloud owns 101's rate now, so its unified row looks the same: wait for the legacy change itself.
  await waitFor('101 to take the legacy rate change', async () => (await unifiedRoom('PCH1', '101')).legacy_position !== legacyPositionBefore);
  assert.deepEqual([(await unifiedRoom('PCH1', '102')).rate_minor, (await unifiedRoom('PCH1', '102')).currency], ['9900', 'JPY']);
  const rateAudit = (await auditSince(before)).filter((row) => row.room_code === '101' && row.field === 'rate');
  const last = rateAudit.at(-1);
  assert.ok(last, 'the rate conflict is audited');
  assert.deepEqual(
    [auditValue(last.legacy_value), auditValue(last.cloud_value), last.winning_source, last.hotel_class],
    [{ rate_minor: 15000, currency: 'JPY' }, { rate_minor: 12900, currency: 'EUR' }, 'cloud', 'cloud-managed'],
  );

  // 4. A hotel only the cloud had appears in legacy: its cloud rooms take the new class.
  await insertLegacyProperty(legacy, 'PCH3', 'L', 'GBP');
  reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'the new legacy property' });
  assert.equal((await unifiedRoom('PCH3', '301')).hotel_class, 'legacy-managed');

  // 5. An unknown management code (F) is the default class.
  await legacy.query(`UPDATE htl_property SET mgmt_typ = 'F' WHERE prop_cd = 'PCH1'`);
  reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'mgmt_typ F' });
  assert.equal((await unifiedRoom('PCH1', '103')).hotel_class, 'default');
  assert.equal((await unifiedRoom('PCH1', '101')).rate_source, 'legacy', 'default class: legacy owns the rate');

  // The control hotel was never touched, not even rewritten with the same values.
  assert.deepEqual(await unifiedRoom('PCH2', '201'), control);
  const audit = await readAudit(unified);
  assert.equal(audit.filter((row) => row.hotel_code === 'PCH2').length, 1, 'PCH2 only has its initial rate conflict (100.00 vs 110.00)');
  assert.deepEqual(auditProblems(audit, reference, policy.policyVersion, { classesFixed: false }), []);
});
