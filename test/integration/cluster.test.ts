// The core path on a real multi-process Temporal cluster started by the project
// (`room-sync cluster start`: frontend, matching, worker service, two history hosts on
// Postgres): snapshot, changes from both sources, a conflict and its audit row, a
// quarantine and its retry, rooms found by search attributes, a room's history fetched
// from the cluster and replayed. The cluster has databases and a data folder of its own, and
// its frontend serves mutual TLS (`cluster start --tls`): every connection here, the test's
// and room-sync's own (configured by TEMPORAL_TLS_* as a user sets them), goes through it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { retryRoomDeadLetters } from '../../src/app/dead-letter-retry.js';
import { commandReplay } from '../../src/cli/replay-command.js';
import { clusterConnectionTls, clusterStatus, startCluster, stopCluster, type StartedCluster } from '../../src/cluster/cluster.js';
import { Resources } from '../../src/app/resources.js';
import { dropClusterDatabases } from '../../src/cluster/persistence.js';
import { loadConfig } from '../../src/config/env.js';
import { adminUrlFor } from '../../src/setup/postgres.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';
import type { Policy } from '../../src/policy/schema.js';
import { auditValue, readAudit, waitForSettled } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, TestPipeline, waitFor, workflowBundle, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

const suffix = randomBytes(3).toString('hex');
const dataDir = join(projectRoot, '.data', `test-cluster-${suffix}`);
// rs_test_: `setup --tests` drops what a killed run left behind.
const databasePrefix = `rs_test_cluster_${suffix}_`;
const hotel = 'CLU001';
const rooms = Array.from({ length: 12 }, (_, index) => String(index + 1));
const failing = '7';

let cluster: StartedCluster;
let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
let propertyId = '';

// Legacy-managed: rate and room type from legacy, availability and status from cloud; the two rates always differ (a conflict).
const legacyRate = (round: number, room: string) => 10_000 + round * 100 + Number(room);
const cloudRate = (round: number) => 50 + round;
const cloudAvailability = (round: number, room: string) => ((round * 7 + Number(room)) % 9) + 1;

async function writeRound(round: number, only: readonly string[] = rooms): Promise<void> {
  await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 10000 + $1::int * 100 + rm_nbr::int WHERE prop_cd = $2 AND rm_nbr = ANY($3)`, [round, hotel, only]);
  await dbs.cloud.query(
    `UPDATE room_inventory SET available_count = ($1::int * 7 + room_code::int) % 9 + 1, nightly_rate = 50 + $1::int WHERE property_id = $2 AND room_code = ANY($3)`,
    [round, propertyId, only],
  );
}

/** Every listed room shows the round's values: rate from legacy, availability from cloud. */
async function converged(round: number, only: readonly string[]): Promise<boolean> {
  const rows = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).execute();
  return only.every((room) => {
    const row = rows.find((candidate) => candidate.room_code === room);
    return row !== undefined && row.rate_minor === String(legacyRate(round, room)) && row.availability === cloudAvailability(round, room);
  });
}

before(async () => {
  const config = loadConfig();
  cluster = await startCluster({
    projectRoot,
    dataDir,
    frontendPort: 0,
    uiPort: 0,
    postgresUrl: adminUrlFor(config.UNIFIED_DATABASE_URL),
    databasePrefix,
    namespace: 'default',
    ui: false,
    tls: true,
    // The other suites share the Postgres: 19 connections kept instead of 42.
    persistenceConnections: 4,
    log: () => undefined,
  });
  env = await TestWorkflowEnvironment.createFromExistingServer({
    address: cluster.address,
    namespace: 'default',
    connectionOptions: await clusterConnectionTls(cluster.layout, dataDir),
  });
  dbs = await createTestDatabases('cluster');
  policy = await defaultPolicy();
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  propertyId = await insertCloudProperty(dbs.cloud, hotel);
  for (const room of rooms) {
    await insertLegacyRoom(dbs.legacy, hotel, room, { rm_typ_cd: 'DBL', rate_amt: legacyRate(0, room), allot_qty: 2, stat_cd: 'A' });
    await insertCloudRoom(dbs.cloud, propertyId, room, { room_type: 'double', nightly_rate: String(cloudRate(0)), currency: 'EUR', available_count: cloudAvailability(0, room), is_active: true });
  }
  pipeline = new TestPipeline(env, dbs, policy, { heartbeatIntervalMs: 250 });
  await pipeline.start();
});

after(async () => {
  await pipeline?.stop();
  await env?.teardown();
  await dbs?.drop();
  await stopCluster(projectRoot, dataDir, () => undefined);
  if (cluster) await dropClusterDatabases(cluster.layout);
  await rm(dataDir, { recursive: true, force: true });
});

test('the cluster runs every service as a process of its own: two history hosts, matching, frontend, worker service', async () => {
  const status = await clusterStatus(projectRoot, dataDir);
  assert.ok(status);
  const alive = status.members.filter((member) => member.alive).map((member) => member.member).sort();
  assert.deepEqual(alive, ['frontend', 'history-1', 'history-2', 'matching', 'worker']);
  const pids = new Set(status.members.filter((member) => member.alive).map((member) => member.pid));
  assert.equal(pids.size, 5, 'five processes');
});

/** room-sync's configuration for the cluster, from the variables `cluster start --tls` prints. */
function clusterConfig() {
  return loadConfig({ ...process.env, ...cluster.environment, TEMPORAL_NAMESPACE: 'default' });
}

test('the frontend serves mutual TLS: room-sync connects with the printed TEMPORAL_TLS_* settings, and not without a client certificate', { timeout: 120_000 }, async () => {
  assert.ok(cluster.environment.TEMPORAL_TLS_CLIENT_CERT_PATH, 'cluster start printed the TLS settings');
  const resources = new Resources(clusterConfig());
  try {
    const client = await resources.client();
    const { namespaceInfo } = await client.workflowService.describeNamespace({ namespace: 'default' });
    assert.equal(namespaceInfo?.name, 'default');
    // The worker's connection (the SDK's core, not grpc-js) too.
    const worker = await resources.workerConnection();
    const info = await worker.workflowService.getSystemInfo({});
    assert.ok(info.serverVersion !== undefined && info.serverVersion !== '', 'the worker connection reached the frontend');
  } finally {
    await resources.close();
  }
  // Without the client certificate the handshake is refused; without TLS the frontend does not answer gRPC.
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...serverOnly } = cluster.environment;
  for (const [what, environment] of [['no client certificate', serverOnly], ['plain TCP', { TEMPORAL_ADDRESS: cluster.address }]] as const) {
    const refused = new Resources(loadConfig({ ...process.env, ...environment, TEMPORAL_NAMESPACE: 'default' }));
    try {
      await assert.rejects(
        (async () => {
          const client = await refused.client();
          await client.workflowService.describeNamespace({ namespace: 'default' });
        })(),
        // grpc-js gives up on the channel: the handshake (or, over plain TCP, the HTTP/2 preface) never succeeds.
        { message: /Failed to connect before the deadline/ },
        `${what}: refused`,
      );
    } finally {
      await refused.close();
    }
  }
});

test('snapshot, then changes from both sources, on the cluster: the unified view equals the reference and a conflict has its audit row', { timeout: 300_000 }, async () => {
  await waitFor('the snapshot applied to every room', () => converged(0, rooms), { timeoutMs: 120_000 });
  const lastId = (await readAudit(dbs.unified)).at(-1)?.id ?? '0';
  await writeRound(1);
  await waitFor('both sources’ changes applied', () => converged(1, rooms), { timeoutMs: 120_000 });
  await waitForSettled(dbs, env.client, policy.policyVersion, { timeoutMs: 120_000 });
  // Legacy owns the rate of a legacy-managed hotel: whichever source's round-1 change came second met the other's, and its
  // audit row holds both round-1 rates (cloud's 51.00 against legacy's) with legacy's winning.
  const rate = (value: unknown) => auditValue(value);
  const conflict = (await readAudit(dbs.unified)).find(
    (row) =>
      BigInt(row.id) > BigInt(lastId) &&
      row.room_code === '3' &&
      row.field === 'rate' &&
      JSON.stringify(rate(row.legacy_value)) === JSON.stringify({ rate_minor: legacyRate(1, '3'), currency: 'EUR' }) &&
      JSON.stringify(rate(row.cloud_value)) === JSON.stringify({ rate_minor: cloudRate(1) * 100, currency: 'EUR' }),
  );
  assert.ok(conflict, 'round 1 left a rate conflict on room 3 with both new rates');
  assert.equal(conflict.winning_source, 'legacy');
  assert.deepEqual(auditValue(conflict.winning_value), { rate_minor: legacyRate(1, '3'), currency: 'EUR' });
  assert.match(conflict.rule, /owner legacy/);
  assert.equal(conflict.policy_version, policy.policyVersion);
});

test('rooms are found on the cluster by their search attributes', { timeout: 120_000 }, async () => {
  const found = await waitFor('room 3 listed by HotelCode and RoomCode', async () => {
    const ids: string[] = [];
    for await (const execution of env.client.workflow.list({ query: `HotelCode = "${hotel}" AND RoomCode = "3"` })) ids.push(execution.workflowId);
    return ids.length > 0 ? ids : undefined;
  }, { timeoutMs: 60_000, intervalMs: 1_000 });
  assert.deepEqual([...new Set(found)], [roomWorkflowId({ hotelCode: hotel, roomCode: '3' })]);
  const { count } = await env.client.workflow.count(`HotelCode = "${hotel}" AND WorkflowType = "roomWorkflow"`);
  assert.ok(count >= rooms.length, `${count} room workflows of ${hotel} counted`);
});

test('a room whose apply keeps failing is quarantined while the others converge; a retry after the fix converges it', { timeout: 300_000 }, async () => {
  await dbs.unifiedPool.query(`
    CREATE FUNCTION refuse_room() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.hotel_code = '${hotel}' AND NEW.room_code = '${failing}' THEN
        RAISE EXCEPTION 'test refuses room ${failing}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$`);
  await dbs.unifiedPool.query(`CREATE TRIGGER refuse_room BEFORE INSERT OR UPDATE ON unified_rooms FOR EACH ROW EXECUTE FUNCTION refuse_room()`);
  await writeRound(2);
  const others = rooms.filter((room) => room !== failing);
  await waitFor('the other rooms converge', () => converged(2, others), { timeoutMs: 120_000 });
  const quarantine = await waitFor('the failing room quarantined', () =>
    dbs.unified.selectFrom('room_quarantine').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', failing).executeTakeFirst(),
  { timeoutMs: 120_000 });
  assert.match(quarantine.reason, new RegExp(`test refuses room ${failing}`));
  assert.equal(await converged(2, [failing]), false, 'the failing room kept its old values');

  await dbs.unifiedPool.query('DROP TRIGGER refuse_room ON unified_rooms');
  const outcome = await retryRoomDeadLetters(dbs.unified, env.client, pipeline.taskQueue, { hotelCode: hotel, roomCode: failing });
  assert.ok(outcome.retried > 0);
  assert.equal(outcome.failedAgain, 0);
  assert.equal(outcome.applied, outcome.retried);
  assert.ok(await converged(2, [failing]), 'the room has what it would have had without the failure');
  assert.equal(await dbs.unified.selectFrom('room_quarantine').selectAll().where('hotel_code', '=', hotel).executeTakeFirst(), undefined, 'quarantine lifted');
});

test('a room’s history fetched from the cluster replays against the current workflow code', { timeout: 300_000 }, async () => {
  const config = clusterConfig();
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await commandReplay(config, { room: `${hotel}/3` }, { out: (line) => lines.push(line), err: (line) => errors.push(line) }, { workflowBundle: await workflowBundle() });
  assert.equal(code, 0, `replay failed: ${[...lines, ...errors].join('\n')}`);
  assert.ok(lines.length >= 1, 'at least one run replayed');
  assert.ok(lines.every((line) => line.includes(roomWorkflowId({ hotelCode: hotel, roomCode: '3' }))), lines.join('\n'));
});
