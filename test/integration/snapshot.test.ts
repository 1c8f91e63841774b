// The hand-off from snapshot to stream: rows that existed before the slots, and rows
// written while the connectors are reading their snapshots, must all arrive, once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Connector } from '../../src/cdc/connector.js';
import type { SourceName } from '../../src/domain/room.js';
import type { Policy } from '../../src/policy/schema.js';
import { auditProblems, duplicateAuditTriggers, waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, type TestDatabases } from '../support/environment.js';
import { Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
// About 2,000 rows before the slots exist: 7 hotels × 80 rooms, ~95 % of them in each
// source (~1,000 room rows, ~560 rooms), and 540 room-less properties in each source
// (rows the snapshot reads and records, without costing a room workflow each).
const workload = new Workload(standardHotels(80, 2), new Rng(seed));

before(async () => {
  console.log(`snapshot.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('snapshot');
  policy = await defaultPolicy();
  await workload.seed(dbs.legacy, dbs.cloud, { legacyShare: 0.95, cloudShare: 0.95, roomlessProperties: 540 });
  pipeline = new TestPipeline(env, dbs, policy, { maxInFlight: 32 });
  await pipeline.startWorker();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

async function rowCount(source: SourceName): Promise<number> {
  const pool = source === 'legacy' ? dbs.legacy : dbs.cloud;
  const tables = source === 'legacy' ? ['htl_property', 'htl_room_inv'] : ['properties', 'room_inventory'];
  let total = 0;
  for (const table of tables) total += (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n ?? 0;
  return total;
}

test('rows from before the slot and rows written during the snapshot all arrive', { timeout: 180_000 }, async () => {
  const preExisting = { legacy: await rowCount('legacy'), cloud: await rowCount('cloud') };
  assert.ok(preExisting.legacy + preExisting.cloud >= 2_000, JSON.stringify(preExisting));

  const connectors: Record<SourceName, Connector> = { legacy: pipeline.createConnector('legacy'), cloud: pipeline.createConnector('cloud') };
  // Writes committed while a connector is already delivering snapshot rows: after its slot's consistent point.
  const duringRead = { legacy: 0, cloud: 0 };
  const reading = (source: SourceName) => {
    const status = connectors[source].status();
    return status.phase === 'snapshot' && status.snapshotRows > 0;
  };
  let markStreaming: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (markStreaming = resolve));
  let isStreaming = false;
  const writer = async (source: SourceName) => {
    const step = () => (source === 'legacy' ? workload.legacyStep(dbs.legacy) : workload.cloudStep(dbs.cloud));
    // Partners write once the slot exists. Creating a logical slot waits for every transaction
    // running on the server to end, so beside other suites it can take seconds; a room created
    // and deleted in that time is gone before the slot's consistent point, rightly never seen
    // by the pipeline, yet the workload would expect it as removed.
    while (!reading(source) && !isStreaming) await new Promise((resolve) => setTimeout(resolve, 5));
    // Up to 80 transactions while the snapshot is read (paced, so the partners do not
    // starve the pipeline of CPU), then 10 more once both stream.
    for (let i = 0; i < 80 && !isStreaming; i++) {
      await step();
      if (reading(source)) duringRead[source] += 1;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await streaming;
    for (let i = 0; i < 10; i++) await step();
  };
  const writers = Promise.all([writer('legacy'), writer('cloud')]);

  const started = Date.now();
  await Promise.all([connectors.legacy.start(), connectors.cloud.start()]);
  const snapshotMs = Date.now() - started;
  isStreaming = true;
  markStreaming();
  await writers;

  const { reference, audit } = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 120_000 });
  console.log(
    `snapshot.test: snapshots took ${snapshotMs} ms (legacy ${connectors.legacy.status().snapshotRows} rows, cloud ${connectors.cloud.status().snapshotRows} rows); ` +
      `writes during the read: ${JSON.stringify(duringRead)}, total ${JSON.stringify(workload.writes)}; settled ${Date.now() - started} ms after start`,
  );

  for (const source of ['legacy', 'cloud'] as const) {
    assert.ok(duringRead[source] > 0, `no ${source} write landed while its snapshot was being read`);
    // The snapshot read every row that existed before the slot (legacy never removes rows; cloud writers may have deleted a few).
    const status = connectors[source].status();
    const deletable = source === 'cloud' ? workload.writes.cloud * 3 : 0;
    assert.ok(status.snapshotRows >= preExisting[source] - deletable, `${source} snapshot read ${status.snapshotRows} of ${preExisting[source]} rows`);
    assert.equal(status.deadLetters, 0);
  }
  assert.ok(reference.rooms.size >= 500, `${reference.rooms.size} rooms`);
  assert.equal(await dbs.unified.selectFrom('dead_letters').select('id').executeTakeFirst(), undefined, 'no dead letters');

  const cursors = await dbs.unified.selectFrom('cdc_cursors').selectAll().orderBy('source').execute();
  assert.equal(cursors.length, 2);
  for (const cursor of cursors) {
    assert.notEqual(cursor.snapshot_completed_at, null, `${cursor.source} snapshot completed`);
    assert.notEqual(cursor.snapshot_lsn, null);
  }

  assert.deepEqual(auditProblems(audit, reference, policy.policyVersion), []);
  assert.equal(await duplicateAuditTriggers(dbs.unified), 0);
});
