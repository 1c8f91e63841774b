// `room-sync reconcile` on the real services: drift made behind the pipeline's back is found
// (exit 1, the right rooms and fields), repaired (`--repair`, exit 0 after) and audited; a
// clean pipeline and a pipeline under partner traffic report nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureReconcileSchedule } from '../../src/app/reconcile-schedule.js';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import type { SourceName } from '../../src/domain/room.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { Policy } from '../../src/policy/schema.js';
import type { ReconcileResult } from '../../src/reconcile/run.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { waitForSettled } from '../support/assertions.js';
import { cliEnvironment, runRoomSync, type CliRun } from '../support/cli.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { roomKey } from '../support/reference.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom, Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
const workload = new Workload(standardHotels(4, 1), new Rng(seed));
const receiver = new AlertReceiver();
const metrics = createMetrics();

// A hotel of the test's own, outside the random workload: legacy-managed, rooms 1 to 3 in both sources.
const hotel = 'REC001';
let cloudPropertyId = '';

before(async () => {
  console.log(`reconcile.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('reconcile');
  policy = await defaultPolicy();
  await workload.seed(dbs.legacy, dbs.cloud);
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  cloudPropertyId = await insertCloudProperty(dbs.cloud, hotel);
  for (const room of ['1', '2', '3']) {
    await insertLegacyRoom(dbs.legacy, hotel, room, { rm_typ_cd: 'DBL', rate_amt: 12000, allot_qty: 5, stat_cd: 'A' });
    await insertCloudRoom(dbs.cloud, cloudPropertyId, room, { room_type: 'king', nightly_rate: '130.00', currency: 'EUR', available_count: 2, is_active: true });
    workload.knownKeys.add(roomKey(hotel, room));
  }
  await receiver.start();
  pipeline = new TestPipeline(env, dbs, policy, { heartbeatIntervalMs: 250, metrics, channels: [{ name: 'webhook-1', kind: 'webhook', url: receiver.url('/webhook') }] });
  await pipeline.start();
  await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys });
});

after(async () => {
  await pipeline?.stop();
  await receiver.stop();
  await dbs?.drop();
  await env?.teardown();
});

function reconcile(...args: string[]): Promise<CliRun> {
  return runRoomSync(
    cliEnvironment(dbs, { TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: env.namespace ?? 'default', TEMPORAL_TASK_QUEUE: pipeline.taskQueue }),
    ['reconcile', '--json', ...args],
  );
}

function parse(run: CliRun): ReconcileResult {
  try {
    return JSON.parse(run.stdout) as ReconcileResult;
  } catch {
    throw new Error(`reconcile printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** Rooms reported as differing, per source: `HOTEL/ROOM verdict field,field`. */
function differing(result: ReconcileResult, source: SourceName): string[] {
  const report = result.sources.find((candidate) => candidate.source === source);
  assert.ok(report, `no ${source} report`);
  return report.rooms.map((room) => `${room.room} ${room.verdict} ${room.differences.map((difference) => difference.field).join(',')}`).sort();
}

/** As an admin would with the pipeline stopped: the slot dropped, then made again with no snapshot (what changed meanwhile was seen by no slot). */
async function outsideAnySlot(sources: readonly SourceName[], change: () => Promise<void>): Promise<void> {
  for (const source of sources) await pipeline.stopConnector(source);
  for (const source of sources) {
    const pool = source === 'legacy' ? dbs.legacy : dbs.cloud;
    await pool.query('SELECT pg_drop_replication_slot($1)', [describeSource(source, dbs.urls[source]).slotName]);
  }
  await change();
  for (const source of sources) {
    const pool = source === 'legacy' ? dbs.legacy : dbs.cloud;
    await pool.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [describeSource(source, dbs.urls[source]).slotName]);
    await pipeline.startConnector(source);
  }
}

const historyRules = async (room: string) =>
  (
    await dbs.unified
      .selectFrom('unified_field_history')
      .select(['field', 'rule'])
      .where('hotel_code', '=', hotel)
      .where('room_code', '=', room)
      .where('rule', 'like', '%reconcile repair%')
      .execute()
  ).map((row) => `${row.field}: ${row.rule}`);

test('a clean pipeline reconciles with exit 0 and nothing differing', { timeout: 120_000 }, async () => {
  const run = await reconcile();
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const result = parse(run);
  for (const report of result.sources) {
    assert.ok(report.counts.compared > 0, `${report.source} compared nothing`);
    assert.equal(report.counts.drifted + report.counts.missing + report.counts.extra, 0, JSON.stringify(report));
  }
  assert.equal(result.unified.roomsDiffering, 0);
  // Progress goes to stderr; stdout is the JSON alone.
  assert.match(run.stderr, /snapshot at/);
  // The temporary slots went with their connections.
  const slots = await dbs.legacy.query(`SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'room_sync_reconcile_%' AND database = current_database()`);
  assert.equal(slots.rows.length, 0);
});

test('bad arguments exit 2', { timeout: 60_000 }, async () => {
  const run = await reconcile('--source', 'both-and-more');
  assert.equal(run.code, 2, run.stderr);
});

test('a room_sources value edited as the owner: found, repaired through the workflow, recorded', { timeout: 180_000 }, async () => {
  await dbs.unified.updateTable('room_sources').set({ cloud: (eb) => eb.fn('jsonb_set', [eb.ref('cloud'), eb.val('{values,availability}'), eb.val('99')]) }).where('hotel_code', '=', hotel).where('room_code', '=', '1').execute();

  const found = await reconcile('--source', 'cloud');
  assert.equal(found.code, 1, found.stderr + found.stdout);
  const result = parse(found);
  assert.deepEqual(differing(result, 'cloud'), [`${hotel}/1 drift availability`]);
  assert.deepEqual(result.sources[0]?.rooms[0]?.differences, [{ field: 'availability', source: 2, stored: 99 }]);
  // The unified row no longer follows from the edited sources either.
  assert.ok(result.unified.differences.some((difference) => difference.room === `${hotel}/1` && difference.column === 'availability'));

  const repaired = await reconcile('--source', 'cloud', '--repair');
  assert.equal(repaired.code, 0, repaired.stderr + repaired.stdout);
  assert.equal(parse(repaired).sources[0]?.repaired, 1);
  const stored = await dbs.unified.selectFrom('room_sources').select('cloud').where('hotel_code', '=', hotel).where('room_code', '=', '1').executeTakeFirstOrThrow();
  assert.equal((stored.cloud as { values: { availability: number } }).values.availability, 2);
  assert.ok((await historyRules('1')).some((rule) => rule.startsWith('availability:')), 'the field history names the reconcile');

  assert.equal((await reconcile()).code, 0);
});

test('changes no slot saw (a row changed, rows deleted, a hotel class changed): found, repaired, audited', { timeout: 300_000 }, async () => {
  await outsideAnySlot(['legacy', 'cloud'], async () => {
    await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 15500 WHERE prop_cd = $1 AND rm_nbr = '1'`, [hotel]);
    await dbs.legacy.query(`DELETE FROM htl_room_inv WHERE prop_cd = $1 AND rm_nbr = '3'`, [hotel]);
    await dbs.legacy.query(`UPDATE htl_property SET mgmt_typ = 'C' WHERE prop_cd = $1`, [hotel]);
    await dbs.cloud.query(`DELETE FROM room_inventory WHERE property_id = $1 AND room_code = '2'`, [cloudPropertyId]);
  });

  const found = await reconcile();
  assert.equal(found.code, 1, found.stderr + found.stdout);
  const result = parse(found);
  assert.deepEqual(differing(result, 'legacy'), [
    `${hotel}/1 drift rate_minor,hotel_mgmt_typ`,
    `${hotel}/2 drift hotel_mgmt_typ`,
    `${hotel}/3 extra presence,hotel_mgmt_typ`,
  ]);
  assert.deepEqual(differing(result, 'cloud'), [`${hotel}/2 extra presence`]);

  const auditBefore = await dbs.unified.selectFrom('conflict_audit').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow();
  const repaired = await reconcile('--repair');
  assert.equal(repaired.code, 0, repaired.stderr + repaired.stdout);

  const rows = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).orderBy('room_code').execute();
  assert.deepEqual(rows.map((row) => row.hotel_class), ['cloud-managed', 'cloud-managed', 'cloud-managed']);
  // Cloud-managed: cloud owns the rate; legacy's 155.00 is the losing side of an audited conflict.
  assert.equal(rows[0]?.rate_minor, '13000');
  const audit = await dbs.unified
    .selectFrom('conflict_audit')
    .select(['room_code', 'field', 'rule', 'legacy_value'])
    .where('hotel_code', '=', hotel)
    .where('id', '>', auditBefore.id ?? '0')
    .execute();
  assert.ok(
    audit.some((row) => row.room_code === '1' && row.field === 'rate' && row.rule.includes('reconcile repair')),
    `the repair's conflicts are audited with a rule naming it: ${JSON.stringify(audit)}`,
  );
  for (const room of ['1', '2', '3']) assert.ok((await historyRules(room)).length > 0, `room ${room}: the field history names the reconcile`);

  // The stream goes on as before: a later partner write lands, and nothing differs.
  await dbs.legacy.query(`UPDATE htl_room_inv SET allot_qty = 9 WHERE prop_cd = $1 AND rm_nbr = '1'`, [hotel]);
  await waitFor('the later write applied', async () => {
    const stored = await dbs.unified.selectFrom('room_sources').select('legacy').where('hotel_code', '=', hotel).where('room_code', '=', '1').executeTakeFirst();
    return (stored?.legacy as { values?: { availability?: number } } | null)?.values?.availability === 9;
  });
  assert.equal((await reconcile()).code, 0);
});

/** Triggers the schedule and waits for that run's result (a failed run throws with its failure). */
async function runScheduledNow(schedule: ReturnType<TestWorkflowEnvironment['client']['schedule']['getHandle']>): Promise<void> {
  const before = (await schedule.describe()).info.recentActions.length;
  await schedule.trigger();
  const action = await waitFor('the scheduled run started', async () => (await schedule.describe()).info.recentActions[before], { timeoutMs: 60_000 });
  await env.client.workflow.getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId).result();
}

test("the schedule: created once by the set-up, its run alerts through the monitor channels, sets the metric and the status line, and resolves once clean", { timeout: 300_000 }, async () => {
  const settings = { cron: '30 3 * * *', channelNames: ['webhook-1'], monitorWorkflowId: 'reconcile-test-monitor' };
  assert.equal(await ensureReconcileSchedule(env.client, pipeline.taskQueue, settings), 'created');
  assert.equal(await ensureReconcileSchedule(env.client, pipeline.taskQueue, settings), 'updated');
  const schedule = env.client.schedule.getHandle('room-sync-reconcile');
  const described = await schedule.describe();
  assert.equal(described.action.type, 'startWorkflow');
  assert.equal(described.action.type === 'startWorkflow' ? described.action.workflowType : null, 'scheduledReconcileWorkflow');
  assert.equal(described.spec.calendars?.length, 1, JSON.stringify(described.spec));

  await dbs.unified.updateTable('room_sources').set({ cloud: (eb) => eb.fn('jsonb_set', [eb.ref('cloud'), eb.val('{values,roomType}'), eb.val('"suite"')]) }).where('hotel_code', '=', hotel).where('room_code', '=', '1').execute();
  await runScheduledNow(schedule);
  const alert = await waitFor('a reconcile alert', () => dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'reconcile').where('resolved_at', 'is', null).executeTakeFirst(), { timeoutMs: 120_000 });
  assert.equal(alert.source, 'cloud');
  assert.equal(alert.severity, 'warning');
  assert.match(alert.message, new RegExp(`1 room\\(s\\).*${hotel}/1`));
  const delivered = await waitFor('the warning on the webhook', async () => receiver.on('/webhook').find((received) => received.body['type'] === 'room-sync.reconcile.warn'), { timeoutMs: 60_000 });
  assert.deepEqual(delivered.body['sample'], [`${hotel}/1`]);
  assert.equal((await metrics.reconcileDriftedRooms.get()).values.find((value) => value.labels.source === 'cloud')?.value, 1);
  assert.equal((await metrics.reconcileDriftedRooms.get()).values.find((value) => value.labels.source === 'legacy')?.value, 0);
  const status = await runRoomSync(cliEnvironment(dbs), ['status']);
  assert.match(status.stdout, /reconcile: legacy matches, \d+ compared .*\| cloud 1 room\(s\) DIFFER \(1 drifted/);

  assert.equal((await reconcile('--source', 'cloud', '--repair')).code, 0);
  await runScheduledNow(schedule);
  await waitFor('the reconcile alert resolved', async () => (await dbs.unified.selectFrom('alerts').select('resolved_at').where('id', '=', alert.id).executeTakeFirst())?.resolved_at, { timeoutMs: 120_000 });
  await waitFor('the resolve on the webhook', async () => receiver.on('/webhook').find((received) => received.body['type'] === 'room-sync.reconcile.resolve'), { timeoutMs: 60_000 });
  await schedule.delete();
});

test('a reconcile during partner traffic on both sources reports nothing (in-flight changes are confirmed away)', { timeout: 300_000 }, async () => {
  let writing = true;
  const traffic = workload.runWriters(dbs.legacy, dbs.cloud, 10_000, { until: () => !writing, pauseMs: 20 });
  try {
    const run = await reconcile('--wait', '120');
    if (run.code !== 0) {
      // Name what the pipeline itself says about the rooms that differ (a quarantine, a dead letter).
      const rooms = parse(run).sources.flatMap((report) => report.rooms.map((room) => room.room));
      const quarantined = await dbs.unified.selectFrom('room_quarantine').selectAll().execute();
      const letters = await dbs.unified.selectFrom('dead_letters').select(['hotel_code', 'room_code', 'table_name', 'reason']).execute();
      assert.fail(`reconcile under load exit ${run.code}: ${run.stdout}\nquarantined: ${JSON.stringify(quarantined)}\ndead letters: ${JSON.stringify(letters.filter((letter) => rooms.includes(`${letter.hotel_code ?? ''}/${letter.room_code ?? ''}`)))}`);
    }
    const result = parse(run);
    for (const report of result.sources) assert.equal(report.counts.drifted + report.counts.missing + report.counts.extra, 0, JSON.stringify(report));
  } finally {
    writing = false;
    await traffic;
  }
});
