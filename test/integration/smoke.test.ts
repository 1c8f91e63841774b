import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('smoke');
  await dbs.legacy.query(`INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd) VALUES ('BER001', 'Berlin', 'L', 'EUR')`);
  await dbs.legacy.query(`INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd) VALUES ('BER001', ' 101 ', 'DBL', 12900, 4, 'A')`);
  pipeline = new TestPipeline(env, dbs, await defaultPolicy());
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

test('snapshot then stream reaches the unified row, conflicts audited', async () => {
  const row = await waitFor('snapshot row', async () =>
    dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'BER001').where('room_code', '=', '101').executeTakeFirst(),
  );
  assert.equal(row.rate_minor, '12900');
  assert.equal(row.status, 'open');
  await dbs.cloud.query(`INSERT INTO properties (id, external_code, display_name, timezone) VALUES ('00000000-0000-0000-0000-000000000001', 'ber001', 'Berlin', 'Europe/Berlin')`);
  await dbs.cloud.query(`INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
    VALUES ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', '101', 'king', 135.00, 'EUR', 7, true)`);
  const merged = await waitFor('cloud change merged', async () => {
    const current = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'BER001').executeTakeFirst();
    return current?.availability === 7 ? current : undefined;
  });
  assert.equal(merged.rate_minor, '12900');
  assert.equal(merged.room_type, 'double');
  const audit = await dbs.unified.selectFrom('conflict_audit').selectAll().orderBy('field').execute();
  assert.deepEqual(audit.map((a) => [a.field, a.winning_source]), [['availability', 'cloud'], ['rate', 'legacy'], ['room_type', 'legacy']]);
});
