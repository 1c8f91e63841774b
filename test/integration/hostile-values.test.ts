// No source value is ever interpolated into SQL text: SQL-looking codes and values written
// into both sources while the stream runs end mapped (codes normalized upper(trim()), the
// text kept as it is) or dead-lettered with a reason; the unified tables stay intact and
// the stream goes on.
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
let cloudHx1 = '';

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('hostile');
  policy = await defaultPolicy();
  await insertLegacyProperty(dbs.legacy, 'HX1', 'L', 'EUR');
  cloudHx1 = await insertCloudProperty(dbs.cloud, 'HX1');
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

async function counts() {
  const { rows } = await dbs.unifiedPool.query<{ rooms: string; audit: string; letters: string }>(
    `SELECT (SELECT count(*) FROM unified_rooms) AS rooms,
            (SELECT count(*) FROM conflict_audit) AS audit,
            (SELECT count(*) FROM dead_letters) AS letters`,
  );
  const [row] = rows;
  assert.ok(row);
  return { rooms: Number(row.rooms), audit: Number(row.audit), letters: Number(row.letters) };
}

async function unifiedRoom(hotelCode: string, roomCode: string) {
  return dbs.unified
    .selectFrom('unified_rooms')
    .select(['hotel_code', 'room_code', 'room_type', 'rate_minor', 'currency', 'availability', 'status'])
    .where('hotel_code', '=', hotelCode)
    .where('room_code', '=', roomCode)
    .executeTakeFirst();
}

const dropRooms = "1'; DROP TABLE unified_rooms; --";
const deleteAudit = "double'); DELETE FROM conflict_audit; --";
// Quotes, a backslash and a double quote; fits legacy's char(8).
const quotedHotel = `O'B\\"X`;

test('SQL-looking codes and values are mapped as plain text or dead-lettered; the tables stay intact and the stream goes on', async () => {
  const { legacy, cloud } = dbs;
  // A normal room first, and a conflict so conflict_audit has rows to lose.
  await insertLegacyRoom(legacy, 'HX1', '100', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' });
  await insertCloudRoom(cloud, cloudHx1, '100', { room_type: 'king', nightly_rate: '139.00', currency: 'EUR', available_count: 4, is_active: true });
  await waitForConvergence(dbs, policy.policyVersion, { description: 'the first normal room' });
  const before = await counts();
  assert.equal(before.rooms, 1);
  assert.ok(before.audit > 0, 'room 100 was audited: conflict_audit has rows to lose');

  // Mapped: the codes and the room type are data, kept verbatim (codes upper(trim())).
  await insertCloudRoom(cloud, cloudHx1, ` ${dropRooms.toLowerCase()} `, { room_type: 'double', nightly_rate: '99.00', currency: 'EUR', available_count: 2, is_active: true });
  await insertCloudRoom(cloud, cloudHx1, '201', { room_type: deleteAudit, nightly_rate: '80.00', currency: 'EUR', available_count: 1, is_active: true });
  await insertLegacyRoom(legacy, 'HX1', ` x'\\"; -- `, { rm_typ_cd: 'SGL', rate_amt: 5000, allot_qty: 1, stat_cd: 'A' });
  // A hotel whose code carries quotes and a backslash, in both sources.
  await insertLegacyProperty(legacy, quotedHotel, 'F', 'EUR');
  const cloudQuoted = await insertCloudProperty(cloud, quotedHotel);
  await insertLegacyRoom(legacy, quotedHotel, `'); --`, { rm_typ_cd: 'TWN', rate_amt: 7000, allot_qty: 2, stat_cd: 'A' });
  await insertCloudRoom(cloud, cloudQuoted, `'); --`, { room_type: 'twin', nightly_rate: '75.00', currency: 'EUR', available_count: 5, is_active: true });

  // Dead-lettered: SQL-looking values the contract cannot map.
  await insertLegacyRoom(legacy, 'HX1', `1';DROP--`, { rm_typ_cd: `'--`, rate_amt: 100, allot_qty: 1, stat_cd: 'A' }); // unknown room type code
  await insertCloudRoom(cloud, cloudHx1, '202', { room_type: 'double', nightly_rate: '10.00', currency: `';-`, available_count: 1, is_active: true }); // unknown currency
  await insertCloudRoom(cloud, cloudHx1, '203', { room_type: 'double', nightly_rate: 'NaN', currency: 'EUR', available_count: 1, is_active: true }); // numeric NaN

  // A normal room after them: the stream went past every hostile row.
  await insertLegacyRoom(legacy, 'HX1', '300', { rm_typ_cd: 'KNG', rate_amt: 15000, allot_qty: 2, stat_cd: 'A' });
  await insertCloudRoom(cloud, cloudHx1, '300', { room_type: 'king', nightly_rate: '150.00', currency: 'EUR', available_count: 2, is_active: true });
  await waitFor('the normal room written last', async () => (await unifiedRoom('HX1', '300'))?.availability === 2, { timeoutMs: 60_000 });
  const reference = await waitForConvergence(dbs, policy.policyVersion, { description: 'every mappable row, hostile or not' });

  assert.deepEqual(await unifiedRoom('HX1', dropRooms.toUpperCase()), {
    hotel_code: 'HX1',
    room_code: "1'; DROP TABLE UNIFIED_ROOMS; --",
    room_type: 'double',
    rate_minor: '9900',
    currency: 'EUR',
    availability: 2,
    status: 'open',
  });
  assert.equal((await unifiedRoom('HX1', '201'))?.room_type, deleteAudit, 'the room type is kept as written');
  const legacyQuoted = await unifiedRoom('HX1', `X'\\"; --`);
  assert.deepEqual([legacyQuoted?.room_type, legacyQuoted?.rate_minor, legacyQuoted?.availability], ['single', '5000', 1]);
  const quoted = await unifiedRoom(quotedHotel, `'); --`);
  assert.ok(quoted, 'the room of the quoted hotel, joined across both sources by its code');
  assert.equal(quoted.status, 'open');
  assert.equal(reference.rooms.size, before.rooms + 5, 'the reference maps rooms 100, 300 and the four hostile rooms, and only those');

  const after = await counts();
  assert.equal(after.rooms, before.rooms + 5, 'unified_rooms: only the mapped rooms were added');
  assert.ok(after.audit >= before.audit, 'conflict_audit lost no row');
  const letters = await dbs.unified.selectFrom('dead_letters').select(['source', 'reason', 'raw']).orderBy('id').execute();
  assert.equal(letters.length, before.letters + 3, JSON.stringify(letters.map((letter) => letter.reason)));
  const reasons = letters.map((letter) => letter.reason);
  assert.ok(reasons.some((reason) => /room type.*'--/.test(reason)), 'the legacy room type');
  assert.ok(reasons.some((reason) => /unknown currency.*';-/.test(reason)), 'the cloud currency');
  assert.ok(reasons.some((reason) => /NaN/.test(reason)), 'the NaN rate');
  for (const letter of letters) assert.ok(letter.reason.length > 0);

  // The tables are all still there, with their rows.
  const { rows: tables } = await dbs.unifiedPool.query<{ name: string }>(
    `SELECT to_regclass(name)::text AS name FROM unnest(ARRAY['unified_rooms', 'conflict_audit', 'dead_letters']) AS name`,
  );
  assert.deepEqual(tables.map((table) => table.name), ['unified_rooms', 'conflict_audit', 'dead_letters']);
});
