// The replication slot lost while the pipeline runs (dropped by an admin, or invalidated by
// max_slot_wal_keep_size): the running connector must take a fresh slot and snapshot by
// itself, and rooms deleted while no slot recorded must still leave the unified store.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { ensureLagMonitor } from '../../src/app/lag-monitor.js';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import { makePosition } from '../../src/domain/position.js';
import type { SourceName } from '../../src/domain/room.js';
import type { Policy } from '../../src/policy/schema.js';
import type { MonitorSettings } from '../../src/workflows/messages.js';
import { duplicateAuditTriggers, waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { roomKey } from '../support/reference.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom, Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

const settings: MonitorSettings = {
  thresholds: { warnSeconds: 2, pageSeconds: 4, clearRatio: 0.5, clearChecks: 2 },
  checkIntervalSeconds: 0.5,
  staleAfterSeconds: 30,
  validForSeconds: 10,
  channelNames: [],
};
const pageWithinMs = (settings.thresholds.pageSeconds + settings.checkIntervalSeconds) * 1000;

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
const workload = new Workload(standardHotels(6, 1), new Rng(seed));

// A hotel of the test's own, outside the random workload, so its rooms' fate is known:
// rooms 1 and 4 in both sources (legacy-managed: cloud owns availability and status), room 2 in cloud only.
const hotel = 'GAP001';
const both = { hotelCode: hotel, roomCode: '1' };
const cloudOnly = { hotelCode: hotel, roomCode: '2' };
let cloudPropertyId = '';

before(async () => {
  console.log(`slot-loss.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('slotloss');
  policy = await defaultPolicy();
  await workload.seed(dbs.legacy, dbs.cloud);
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  await insertLegacyRoom(dbs.legacy, hotel, '1', { rm_typ_cd: 'DBL', rate_amt: 12000, allot_qty: 5, stat_cd: 'A' });
  cloudPropertyId = await insertCloudProperty(dbs.cloud, hotel);
  await insertLegacyRoom(dbs.legacy, hotel, '4', { rm_typ_cd: 'TWN', rate_amt: 9000, allot_qty: 1, stat_cd: 'A' });
  for (const room of ['1', '2', '4']) {
    await insertCloudRoom(dbs.cloud, cloudPropertyId, room, { room_type: 'king', nightly_rate: '130.00', currency: 'EUR', available_count: 2, is_active: true });
  }
  for (const room of ['1', '2', '4']) workload.knownKeys.add(roomKey(hotel, room));
  pipeline = new TestPipeline(env, dbs, policy, { heartbeatIntervalMs: 250 });
  await pipeline.start();
  await ensureLagMonitor(env.client, pipeline.taskQueue, settings, `lag-monitor-${randomUUID()}`);
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

/** As an admin would: end the walsender holding the slot, then drop it (retried: the connector reconnects on its own). */
async function dropSlotUnderTheConnector(source: SourceName): Promise<void> {
  const { slotName } = describeSource(source, dbs.urls[source]);
  const pool = source === 'legacy' ? dbs.legacy : dbs.cloud;
  await waitFor(`slot ${slotName} dropped`, async () => {
    await pool.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slotName]);
    try {
      await pool.query('SELECT pg_drop_replication_slot($1)', [slotName]);
      return true;
    } catch (error) {
      if (/is active for PID/.test(String(error))) return false;
      throw error;
    }
  }, { intervalMs: 20 });
}

const auditFieldsOf = async (room: { hotelCode: string; roomCode: string }) =>
  (await dbs.unified.selectFrom('conflict_audit').select('field').where('hotel_code', '=', room.hotelCode).where('room_code', '=', room.roomCode).orderBy('id').execute()).map(
    (row) => row.field,
  );

const lagPages = (source: SourceName) =>
  dbs.unified.selectFrom('alerts').selectAll().where('source', '=', source).where('subject', '=', 'lag').where('severity', '=', 'page').execute();

/**
 * The gap's writes in a transaction that holds an xid while `meanwhile` runs: no new slot reaches
 * its consistent point before it commits. It ends whatever happens (rolled back when `meanwhile`
 * fails): an xid left open blocks every logical slot created on the server, every suite's.
 */
async function inGapTransaction(pool: pg.Pool, writes: (gap: pg.PoolClient) => Promise<void>, meanwhile: () => Promise<void>): Promise<void> {
  const gap = await pool.connect();
  let committed = false;
  try {
    await gap.query('BEGIN');
    await writes(gap);
    await meanwhile();
    await gap.query('COMMIT');
    committed = true;
  } finally {
    if (!committed) await gap.query('ROLLBACK').catch(() => undefined);
    gap.release(!committed);
  }
}

/** A lag incident left open by the load before (a slow CI) would absorb the gap's page: wait for it to resolve first. */
async function noLagIncidentOpen(source: SourceName): Promise<void> {
  await waitFor(`no ${source} lag incident open before the gap`, async () =>
    (await dbs.unified.selectFrom('alerts').select('id').where('source', '=', source).where('subject', '=', 'lag').where('resolved_at', 'is', null).execute()).length === 0,
  { timeoutMs: 60_000 });
}

test('a slot dropped mid-stream: the lag pages, the connector re-snapshots by itself, rooms deleted in the gap leave', { timeout: 300_000 }, async () => {
  await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys });
  const connector = pipeline.connector('cloud');
  const before = await dbs.unified.selectFrom('room_sources').select(['room_code', 'cloud']).where('hotel_code', '=', hotel).execute();
  assert.equal(before.length, 3);
  const auditBefore = await auditFieldsOf(both);
  const historyBefore = await dbs.unified.selectFrom('unified_field_history').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow();

  // Partners write to both sources up to the gap and again once the connector streams. Not inside the
  // gap: a room a random writer created and deleted there was seen by no slot and by no snapshot, so
  // no pipeline could know it, while the reference (every key the workload ever wrote) would expect it.
  await workload.runWriters(dbs.legacy, dbs.cloud, 20, { pauseMs: 100 });

  // The gap's writes run in a transaction that holds an xid before the slot is dropped: the
  // connector's new slot cannot reach its consistent point before that commit, so these
  // changes are seen by no slot, only (or not at all, for the deletes) by the new snapshot.
  await noLagIncidentOpen('cloud');
  const pagesBefore = (await lagPages('cloud')).length;
  let droppedAt = 0;
  await inGapTransaction(
    dbs.cloud,
    async (gap) => {
      await gap.query(`DELETE FROM room_inventory WHERE property_id = $1 AND room_code IN ('1', '2')`, [cloudPropertyId]);
      await insertCloudRoom(gap, cloudPropertyId, '3', { room_type: 'suite', nightly_rate: '310.00', currency: 'EUR', available_count: 1, is_active: true });
      await gap.query(`UPDATE room_inventory SET available_count = 7, version = version + 1 WHERE property_id = $1 AND room_code = '4'`, [cloudPropertyId]);
    },
    async () => {
      await dropSlotUnderTheConnector('cloud');
      droppedAt = Date.now();
      // While no slot records the cloud, its acknowledged position stands still: the lag pages.
      await waitFor('a cloud lag page during the gap', async () => ((await lagPages('cloud')).length > pagesBefore ? true : undefined), {
        timeoutMs: pageWithinMs * 6,
      });
      assert.notEqual(connector.status().phase, 'streaming', 'the connector is not streaming while its new slot waits for the gap to commit');
    },
  );
  workload.knownKeys.add(roomKey(hotel, '3'));

  const recovered = await waitFor('the same cloud connector streaming again', async () => {
    const status = connector.status();
    return status.phase === 'streaming' && status.connected && status.roomsMarkedLeft > 0 ? status : undefined;
  }, { timeoutMs: 120_000 });
  console.log(`slot-loss.test: recovered ${Date.now() - droppedAt} ms after the drop; ${recovered.roomsMarkedLeft} room(s) marked as left`);
  assert.equal(pipeline.connector('cloud'), connector, 'no restart: the same connector');

  await workload.runWriters(dbs.legacy, dbs.cloud, 20, { pauseMs: 100 });
  const { reference } = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 180_000 });

  // The fresh slot's snapshot position: newer than anything the old slot delivered.
  const cursor = await dbs.unified.selectFrom('cdc_cursors').selectAll().where('source', '=', 'cloud').executeTakeFirstOrThrow();
  assert.ok(cursor.snapshot_lsn !== null && cursor.snapshot_completed_at !== null);
  const leftAt = makePosition(cursor.snapshot_lsn, 0);
  for (const room of [both, cloudOnly]) {
    const stored = await dbs.unified.selectFrom('room_sources').select('cloud').where('hotel_code', '=', room.hotelCode).where('room_code', '=', room.roomCode).executeTakeFirstOrThrow();
    const previous = before.find((row) => row.room_code === room.roomCode)?.cloud as { position: string } | null;
    assert.deepEqual(stored.cloud && { ...stored.cloud, commitTime: undefined }, { position: leftAt, commitTime: undefined, values: null }, `${room.roomCode} left cloud`);
    assert.ok(previous !== null && previous !== undefined && leftAt > previous.position, 'the left change is newer than the stored cloud position');
  }

  // Left cloud only: legacy's values win, and the rule says it is a fallback.
  const row1 = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', '1').executeTakeFirstOrThrow();
  assert.equal(row1.availability, 5);
  assert.equal(row1.availability_source, 'legacy');
  assert.equal(row1.status, 'open');
  assert.equal(row1.status_source, 'legacy');
  // One history row per field for the leaving (cloud's values gone), no more: nothing else changes room 1.
  const history = await dbs.unified
    .selectFrom('unified_field_history')
    .selectAll()
    .where('hotel_code', '=', hotel)
    .where('room_code', '=', '1')
    .where('id', '>', historyBefore.id ?? '0')
    .execute();
  assert.deepEqual(history.map((entry) => entry.field).sort(), ['availability', 'rate', 'room_type', 'status']);
  for (const entry of history) assert.equal(entry.cloud_value, null, `${entry.field}: cloud's value is gone`);
  for (const entry of history.filter((row) => row.field === 'availability' || row.field === 'status')) {
    assert.equal(entry.source, 'legacy');
    assert.match(entry.rule, /owner cloud has no value, fallback legacy/);
  }

  // Left both (cloud was its only source): removed, nothing to sell.
  const row2 = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', '2').executeTakeFirstOrThrow();
  assert.equal(row2.status, 'removed');
  assert.equal(row2.availability, 0);
  // Inserted and updated in the gap: arrived through the snapshot (and equal the reference, like every room).
  assert.equal(reference.rooms.get(roomKey(hotel, '3'))?.expected.status, 'open');
  const row4 = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', '4').executeTakeFirstOrThrow();
  assert.deepEqual([row4.availability, row4.availability_source], [7, 'cloud']);

  // Nothing applied twice: one audit row per (room, field, change), checked over every room by
  // waitForSettled and here; leaving a source is no conflict, so GAP001/1 kept exactly its
  // three audit rows from before the gap (rate, room type and availability differed).
  assert.equal(await duplicateAuditTriggers(dbs.unified), 0);
  assert.deepEqual(await auditFieldsOf(both), auditBefore);
  assert.equal(auditBefore.length, 3);
  assert.deepEqual(await dbs.unified.selectFrom('unapplied_changes').select('position').execute(), [], 'every delivered change applied');

  // The incident resolves once the fresh slot's acknowledgements move again.
  await waitFor('the cloud lag incident resolved', async () => {
    const open = await dbs.unified.selectFrom('alerts').select('id').where('source', '=', 'cloud').where('resolved_at', 'is', null).execute();
    return open.length === 0;
  }, { timeoutMs: 60_000 });
});

test('a legacy slot dropped while a legacy row is deleted outright: that room leaves legacy, cloud values win as fallback', { timeout: 300_000 }, async () => {
  const connector = pipeline.connector('legacy');
  const markedBefore = connector.status().roomsMarkedLeft;
  await noLagIncidentOpen('legacy');
  const pagesBefore = (await lagPages('legacy')).length;
  await inGapTransaction(
    dbs.legacy,
    async (gap) => {
      await gap.query(`DELETE FROM htl_room_inv WHERE prop_cd = $1 AND rm_nbr = '4'`, [hotel]);
    },
    async () => {
      await dropSlotUnderTheConnector('legacy');
      await waitFor('a legacy lag page during the gap', async () => ((await lagPages('legacy')).length > pagesBefore ? true : undefined), {
        timeoutMs: pageWithinMs * 6,
      });
    },
  );
  await waitFor('the same legacy connector streaming again', async () => {
    const status = connector.status();
    return status.phase === 'streaming' && status.connected && status.roomsMarkedLeft > markedBefore ? status : undefined;
  }, { timeoutMs: 120_000 });
  assert.equal(pipeline.connector('legacy'), connector, 'no restart: the same connector');
  // Exactly the deleted room: not the cloud-only rooms its hotel's property (in the snapshot) signals.
  assert.equal(connector.status().roomsMarkedLeft - markedBefore, 1);
  await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 180_000 });

  // Legacy owns rate and room type here: with its row gone, cloud's values fill in as fallback.
  const row4 = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', '4').executeTakeFirstOrThrow();
  assert.deepEqual([row4.rate_source, row4.room_type_source, row4.rate_minor, row4.room_type], ['cloud', 'cloud', '13000', 'king']);
  const stored = await dbs.unified.selectFrom('room_sources').select('legacy').where('hotel_code', '=', hotel).where('room_code', '=', '4').executeTakeFirstOrThrow();
  assert.equal((stored.legacy as { values: unknown } | null)?.values, null, 'room 4 left legacy');
  assert.equal(await duplicateAuditTriggers(dbs.unified), 0);
});
