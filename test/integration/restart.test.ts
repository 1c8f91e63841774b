// Connectors that stop, or whose replication connection dies, while partners keep
// writing: after the restart nothing is lost and nothing is duplicated.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type pg from 'pg';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import type { SourceName } from '../../src/domain/room.js';
import type { Policy } from '../../src/policy/schema.js';
import { auditProblems, duplicateAuditTriggers, lsnValue, waitForConvergence, waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertLegacyProperty, insertLegacyRoom, Rng, standardHotels, testSeed, Workload } from '../support/workload.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
const seed = testSeed();
const workload = new Workload(standardHotels(5), new Rng(seed));

before(async () => {
  console.log(`restart.test seed=${seed} (TEST_SEED=${seed} replays it)`);
  env = await startTestTemporal();
  dbs = await createTestDatabases('restart');
  policy = await defaultPolicy();
  await workload.seed(dbs.legacy, dbs.cloud);
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

interface SlotRow {
  active_pid: number | null;
  confirmed_flush_lsn: string | null;
}

async function slotOf(source: SourceName): Promise<SlotRow> {
  const { slotName } = describeSource(source, dbs.urls[source]);
  const { rows } = await dbs.legacy.query<SlotRow>(
    'SELECT active_pid, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
    [slotName],
  );
  const row = rows[0];
  if (!row) throw new Error(`slot ${slotName} is gone`);
  return row;
}

async function ackedLsn(source: SourceName): Promise<string> {
  const cursor = await dbs.unified.selectFrom('cdc_cursors').select('last_acked_lsn').where('source', '=', source).executeTakeFirstOrThrow();
  if (cursor.last_acked_lsn === null) throw new Error(`${source} has acknowledged nothing`);
  return cursor.last_acked_lsn;
}

/**
 * After a clean stop the slot never confirms past what the cursor recorded (the cursor is
 * written first; a stop racing an acknowledgement may leave the slot behind it, which only
 * means a harmless replay).
 */
async function assertSlotWithinCursor(source: SourceName): Promise<void> {
  const slot = await slotOf(source);
  assert.equal(slot.active_pid, null, `${source} slot released`);
  const acked = await ackedLsn(source);
  assert.ok(slot.confirmed_flush_lsn !== null);
  assert.ok(
    lsnValue(slot.confirmed_flush_lsn) <= lsnValue(acked),
    `${source} slot confirmed_flush_lsn ${slot.confirmed_flush_lsn} is past cdc_cursors.last_acked_lsn ${acked}`,
  );
}

async function writesReach(source: SourceName, count: number): Promise<void> {
  await waitFor(`${count} ${source} writes`, async () => workload.writes[source] >= count, { timeoutMs: 60_000 });
}

test('connectors stopped, and killed abruptly, mid-stream while writes continue: nothing lost, nothing duplicated', { timeout: 240_000 }, async () => {
  const initiallyAcked = { legacy: await ackedLsn('legacy'), cloud: await ackedLsn('cloud') };
  let writing = true;
  // Partners write all along, through every stop, kill and restart below.
  const writers = workload.runWriters(dbs.legacy, dbs.cloud, Number.MAX_SAFE_INTEGER, { until: () => !writing, pauseMs: 5 });
  let written = 0;
  try {
    for (const source of ['legacy', 'cloud'] as const) {
      await writesReach(source, workload.writes[source] + 15);
      await pipeline.stopConnector(source);
      await assertSlotWithinCursor(source);
      const stoppedAt = await ackedLsn(source);
      await writesReach(source, workload.writes[source] + 25); // written while nobody reads the slot
      await pipeline.startConnector(source);
      await waitFor(`${source} to acknowledge past its stop`, async () => lsnValue(await ackedLsn(source)) > lsnValue(stoppedAt), { timeoutMs: 60_000 });
    }

    // Abrupt: the walsender is terminated under the connector, which must reconnect by itself.
    for (const source of ['cloud', 'legacy'] as const) {
      await writesReach(source, workload.writes[source] + 15);
      const victim = await waitFor(`${source} slot in use`, async () => (await slotOf(source)).active_pid);
      const { rows } = await dbs.legacy.query<{ terminated: boolean }>('SELECT pg_terminate_backend($1) AS terminated', [victim]);
      assert.equal(rows[0]?.terminated, true);
      const killedAt = await ackedLsn(source);
      await writesReach(source, workload.writes[source] + 25);
      await waitFor(
        `${source} connector to reconnect`,
        async () => {
          const pid = (await slotOf(source)).active_pid;
          return pid !== null && pid !== victim && pipeline.connector(source).status().connected;
        },
        { timeoutMs: 60_000 },
      );
      await waitFor(`${source} to acknowledge past the kill`, async () => lsnValue(await ackedLsn(source)) > lsnValue(killedAt), { timeoutMs: 60_000 });
    }

    await writesReach('legacy', workload.writes.legacy + 10);
  } finally {
    writing = false;
    written = await writers;
  }
  const { reference, audit } = await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 90_000 });
  console.log(`restart.test: ${written} transactions through 2 stops and 2 kills, ${audit.length} audit rows`);

  assert.deepEqual(auditProblems(audit, reference, policy.policyVersion), []);
  assert.equal(await duplicateAuditTriggers(dbs.unified), 0, 'no (room, field, trigger_position) audited twice');
  assert.equal(await dbs.unified.selectFrom('dead_letters').select('id').executeTakeFirst(), undefined, 'no dead letters');
  for (const source of ['legacy', 'cloud'] as const) {
    assert.ok(lsnValue(await ackedLsn(source)) > lsnValue(initiallyAcked[source]), `${source} cdc_cursors.last_acked_lsn advanced`);
  }
});

/** Begin/commit boundaries of the transactions a stopped slot would send, read with a peek (which confirms nothing). */
async function peekCommits(pool: pg.Pool, source: SourceName): Promise<{ xid: number; commitLsn: bigint; endLsn: bigint }[]> {
  const { slotName, publicationName } = describeSource(source, dbs.urls[source]);
  const { rows } = await pool.query<{ data: Buffer }>(
    `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`,
    [slotName, publicationName],
  );
  const commits: { xid: number; commitLsn: bigint; endLsn: bigint }[] = [];
  let xid = -1;
  for (const { data } of rows) {
    if (data[0] === 0x42) xid = data.readUInt32BE(17); // Begin: final LSN, timestamp, xid
    if (data[0] === 0x43) commits.push({ xid, commitLsn: data.readBigUInt64BE(2), endLsn: data.readBigUInt64BE(10) }); // Commit: flags, commit LSN, end LSN
  }
  return commits;
}

test('a transaction committed right after an acknowledged one survives a restart (slot acknowledged exactly, not one byte past)', { timeout: 120_000 }, async () => {
  const { legacy } = dbs;
  await insertLegacyProperty(legacy, 'ADJ1', 'L', 'EUR');
  await insertLegacyRoom(legacy, 'ADJ1', 'X', { rm_typ_cd: 'DBL', rate_amt: 10000, allot_qty: 1, stat_cd: 'A' });
  await insertLegacyRoom(legacy, 'ADJ1', 'Y', { rm_typ_cd: 'DBL', rate_amt: 10000, allot_qty: 1, stat_cd: 'A' });
  await waitForConvergence(dbs, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 60_000 });
  await pipeline.stopConnector('legacy');

  // A (room X) commits, and B (the property and room Y), open since before A, commits
  // right after it: B's commit record then starts exactly where A's ends. Retried in the
  // rare case another WAL record slipped in between.
  const a = await legacy.connect();
  const b = await legacy.connect();
  let pair: { aEnd: bigint; bCommit: bigint } | null = null;
  try {
    for (let attempt = 1; attempt <= 5 && pair === null; attempt++) {
      await b.query('BEGIN');
      await b.query(`UPDATE htl_property SET mgmt_typ = CASE mgmt_typ WHEN 'L' THEN 'C' ELSE 'L' END WHERE prop_cd = 'ADJ1'`);
      await b.query(`UPDATE htl_room_inv SET allot_qty = $1 WHERE prop_cd = 'ADJ1' AND rm_nbr = 'Y'`, [attempt + 1]);
      const bXid = (await b.query<{ xid: string }>(`SELECT (pg_current_xact_id()::text::bigint & 4294967295)::text AS xid`)).rows[0]?.xid;
      await a.query('BEGIN');
      await a.query(`UPDATE htl_room_inv SET allot_qty = $1 WHERE prop_cd = 'ADJ1' AND rm_nbr = 'X'`, [attempt + 1]);
      const aXid = (await a.query<{ xid: string }>(`SELECT (pg_current_xact_id()::text::bigint & 4294967295)::text AS xid`)).rows[0]?.xid;
      await a.query('COMMIT');
      await b.query('COMMIT');
      const commits = await peekCommits(legacy, 'legacy');
      const commitA = commits.find((commit) => String(commit.xid) === aXid);
      const commitB = commits.find((commit) => String(commit.xid) === bXid);
      if (!commitA || !commitB) throw new Error('the peek did not show both transactions');
      if (commitA.endLsn === commitB.commitLsn) {
        pair = { aEnd: commitA.endLsn, bCommit: commitB.commitLsn };
      } else {
        // Let the connector consume this pair, so the next attempt's A is the first thing it reads.
        console.log(`restart.test: attempt ${attempt}: another WAL record between A and B, retrying`);
        await pipeline.startConnector('legacy');
        await waitForConvergence(dbs, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 60_000 });
        await pipeline.stopConnector('legacy');
      }
    }
  } finally {
    a.release();
    b.release();
  }
  assert.ok(pair, 'could not commit two adjacent transactions in 5 attempts');

  // Hold B back: its property change waits on a lock of the hotel's mirror row, so the
  // connector can deliver, and acknowledge, A alone.
  const blocker = await dbs.unifiedPool.connect();
  await blocker.query('BEGIN');
  await blocker.query(`SELECT 1 FROM legacy_hotels WHERE hotel_code = 'ADJ1' FOR UPDATE`);
  try {
    await pipeline.startConnector('legacy');
    await waitFor('A acknowledged alone', async () => lsnValue(await ackedLsn('legacy')) === pair.aEnd, { timeoutMs: 60_000 });
    // The slot confirms exactly A's end LSN: one byte more and Postgres would skip B, whose commit starts there.
    const confirmed = await waitFor('the slot to confirm A', async () => {
      const lsn = (await slotOf('legacy')).confirmed_flush_lsn;
      return lsn !== null && lsnValue(lsn) >= pair.aEnd ? lsnValue(lsn) : undefined;
    });
    assert.equal(confirmed, pair.aEnd, 'confirmed_flush_lsn is exactly the acknowledged commit end LSN');
    await pipeline.stopConnector('legacy');
    await assertSlotWithinCursor('legacy');
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }

  // Restarted from the slot, the connector must still receive B.
  await pipeline.startConnector('legacy');
  await waitForConvergence(dbs, policy.policyVersion, { knownKeys: workload.knownKeys, timeoutMs: 60_000, description: 'B (room Y and its hotel) to arrive after the restart' });
});
