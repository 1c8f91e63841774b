// Precedence changes as reviewed configuration, on the real Postgres and Temporal:
// `room-sync policy apply` (run as ops run it, in a child process) records a policy and
// re-resolves exactly the rooms it decides differently, audited under the new version and
// rule; a dry run lists them and changes nothing; a class change audits every differing
// field; a worker stopped half-way through a re-resolution still ends with every affected
// room re-resolved, once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { roomSyncNodeArgs } from '../../scripts/room-sync-entry.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { auditValue, readAudit, waitForSettled, type AuditRow } from '../support/assertions.js';
import { cliEnvironment, runRoomSync, type CliRun } from '../support/cli.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

const defaultFile = join(projectRoot, 'policies/default.yaml');
const flipFile = join(projectRoot, 'policies/examples/cloud-rate-from-legacy.yaml');

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let flipped: Policy;
let pipeline: TestPipeline;
let workDir = '';

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('policy');
  policy = await defaultPolicy();
  flipped = await loadPolicy(flipFile);
  workDir = await mkdtemp(join(tmpdir(), 'room-sync-policy-test-'));
  const { legacy, cloud } = dbs;
  // PFA, cloud-managed: the flip's hotel. 101 differs on rate, 102 agrees on rate but not on
  // availability, 103 only the cloud has (its rate owner, legacy, has no value).
  await insertLegacyProperty(legacy, 'PFA', 'C', 'EUR');
  const pfa = await insertCloudProperty(cloud, 'PFA');
  await insertLegacyRoom(legacy, 'PFA', '101', { rm_typ_cd: 'KNG', rate_amt: 12000, allot_qty: 3, stat_cd: 'A' });
  await insertCloudRoom(cloud, pfa, '101', { room_type: 'king', nightly_rate: '129.00', currency: 'EUR', available_count: 3, is_active: true });
  await insertLegacyRoom(legacy, 'PFA', '102', { rm_typ_cd: 'DBL', rate_amt: 12900, allot_qty: 2, stat_cd: 'A' });
  await insertCloudRoom(cloud, pfa, '102', { room_type: 'double', nightly_rate: '129.00', currency: 'EUR', available_count: 5, is_active: true });
  await insertCloudRoom(cloud, pfa, '103', { room_type: 'suite', nightly_rate: '250.00', currency: 'EUR', available_count: 1, is_active: true });
  // PFB, legacy-managed, and PFC, default: the flip leaves them as they are.
  await insertLegacyProperty(legacy, 'PFB', 'L', 'EUR');
  const pfb = await insertCloudProperty(cloud, 'PFB');
  await insertLegacyRoom(legacy, 'PFB', '201', { rm_typ_cd: 'TWN', rate_amt: 10000, allot_qty: 1, stat_cd: 'A' });
  await insertCloudRoom(cloud, pfb, '201', { room_type: 'double', nightly_rate: '110.00', currency: 'EUR', available_count: 1, is_active: true });
  await insertLegacyProperty(legacy, 'PFC', 'F', 'GBP');
  const pfc = await insertCloudProperty(cloud, 'PFC');
  await insertLegacyRoom(legacy, 'PFC', '301', { rm_typ_cd: 'SGL', rate_amt: 8000, allot_qty: 4, stat_cd: 'A' });
  await insertCloudRoom(cloud, pfc, '301', { room_type: 'single', nightly_rate: '85.00', currency: 'GBP', available_count: 4, is_active: true });
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
  await waitForSettled(dbs, env.client, policy.policyVersion);
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// ---- helpers ---------------------------------------------------------------------------------------------

/** The environment `room-sync` runs with: the suite's databases, Temporal and task queue. */
function policyCliEnvironment(): NodeJS.ProcessEnv {
  return cliEnvironment(dbs, {
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    TEMPORAL_TASK_QUEUE: pipeline.taskQueue,
    POLICY_FILE: defaultFile,
    METRICS_PORT: '0',
  });
}

/** `room-sync ...` as ops run it, in a child process. */
function roomSync(...args: string[]): Promise<CliRun> {
  return runRoomSync(policyCliEnvironment(), args);
}

/** A long-running `room-sync` (a worker) in a child process of its own, to be killed. */
function spawnRoomSync(...args: string[]): ChildProcess {
  return spawn(process.execPath, roomSyncNodeArgs(args), { cwd: projectRoot, env: policyCliEnvironment(), stdio: 'ignore' });
}

async function unifiedRows() {
  return dbs.unified.selectFrom('unified_rooms').selectAll().orderBy(['hotel_code', 'room_code']).execute();
}

async function unifiedRoom(hotel: string, room: string) {
  return dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', room).executeTakeFirstOrThrow();
}

async function policyActivations() {
  return dbs.unified.selectFrom('policy_versions').select(['id', 'version']).orderBy('id').execute();
}

const auditAfter = async (rows: readonly AuditRow[]) => (await readAudit(dbs.unified)).slice(rows.length);

function describeAudit(row: AuditRow) {
  return {
    room: `${row.hotel_code}/${row.room_code}`,
    field: row.field,
    winner: row.winning_source,
    winning: auditValue(row.winning_value),
    rule: row.rule,
    policy: row.policy_version,
    hotelClass: row.hotel_class,
    trigger: `${row.trigger_source} ${row.trigger_position}`,
  };
}

// ---- tests -----------------------------------------------------------------------------------------------

test('a dry run prints the diff and lists the rooms the policy would re-resolve, and changes nothing', async () => {
  const rows = await unifiedRows();
  const audit = await readAudit(dbs.unified);
  const activations = await policyActivations();
  assert.deepEqual(activations.map((row) => row.version), [policy.policyVersion], 'the worker recorded POLICY_FILE as the first version');

  const run = await roomSync('policy', 'apply', flipFile, '--dry-run');
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.split('\n');
  assert.ok(lines.includes(`active: ${policy.policyVersion} (#${activations[0]?.id})`), run.stdout);
  assert.ok(lines.includes('  class cloud-managed, rate: owner cloud -> legacy'), run.stdout);
  assert.ok(lines.includes('3 of 5 room(s) would be re-resolved'), run.stdout);
  assert.deepEqual(
    lines.filter((line) => line.startsWith('  PF')),
    [
      '  PFA/101 (cloud-managed) rate: 12900 EUR (cloud) -> 12000 EUR (legacy)',
      '  PFA/102 (cloud-managed) rate: 12900 EUR (cloud) -> 12900 EUR (legacy)',
      '  PFA/103 (cloud-managed) rate: 25000 EUR (cloud) -> 25000 EUR (cloud), rule now "cloud-managed/rate: owner legacy has no value, fallback cloud"',
    ],
  );
  assert.ok(lines.includes('cloud-managed: 3 room(s) (values moving: rate 2)'), run.stdout);

  assert.deepEqual(await unifiedRows(), rows, 'no unified row changed');
  assert.equal((await readAudit(dbs.unified)).length, audit.length, 'no audit row written');
  assert.deepEqual(await policyActivations(), activations, 'nothing recorded');
});

test('an invalid policy file exits 2 naming the file and the field, and records nothing', async () => {
  const bad = join(workDir, 'latest-wins.yaml');
  await writeFile(bad, (await readFile(flipFile, 'utf8')).replace(/cloud-managed:\n {4}rate: legacy/, 'cloud-managed:\n    rate: latest'), 'utf8');
  const activations = await policyActivations();
  const run = await roomSync('policy', 'apply', bad);
  assert.equal(run.code, 2, run.stdout);
  assert.match(run.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: classes\\.cloud-managed\\.rate: `));
  assert.deepEqual(await policyActivations(), activations);
});

test('applying a flip re-resolves exactly the affected rooms, audited under the new version and rule; unaffected rooms are untouched', async () => {
  const rows = new Map((await unifiedRows()).map((row) => [`${row.hotel_code}/${row.room_code}`, row]));
  const audit = await readAudit(dbs.unified);

  const run = await roomSync('policy', 'apply', flipFile);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const activation = (await policyActivations()).at(-1);
  assert.equal(activation?.version, flipped.policyVersion);
  const id = activation?.id ?? '';
  assert.match(run.stdout, new RegExp(`recorded as the active policy \\(#${id}\\)`));
  assert.match(run.stdout, new RegExp(`re-resolution workflow: policy-re-resolution/${id}\\n`));
  assert.match(run.stdout, /: done, 5 room\(s\) scanned, 3\/3 re-resolved/);

  // Returned once every affected room carries the new version.
  const [r101, r102, r103] = [await unifiedRoom('PFA', '101'), await unifiedRoom('PFA', '102'), await unifiedRoom('PFA', '103')];
  assert.deepEqual([r101.rate_source, r101.rate_minor, r101.currency, r101.policy_version], ['legacy', '12000', 'EUR', flipped.policyVersion]);
  assert.deepEqual([r102.rate_source, r102.rate_minor, r102.policy_version], ['legacy', '12900', flipped.policyVersion]);
  assert.deepEqual([r103.rate_source, r103.rate_minor, r103.policy_version], ['cloud', '25000', flipped.policyVersion]);
  for (const key of ['PFB/201', 'PFC/301']) {
    const [hotel = '', room = ''] = key.split('/');
    assert.deepEqual(await unifiedRoom(hotel, room), rows.get(key), `${key} untouched, updated_at and policy_version included`);
  }

  // One audit row per field of the re-resolved rooms whose two values differ, citing the new version and rule.
  const byRoom = (a: { room: string }, b: { room: string }) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
  assert.deepEqual((await auditAfter(audit)).map(describeAudit).sort(byRoom), [
    {
      room: 'PFA/101',
      field: 'rate',
      winner: 'legacy',
      winning: { rate_minor: 12000, currency: 'EUR' },
      rule: 'cloud-managed/rate: owner legacy',
      policy: flipped.policyVersion,
      hotelClass: 'cloud-managed',
      trigger: `policy ${id}`,
    },
    {
      room: 'PFA/102',
      field: 'availability',
      winner: 'cloud',
      winning: 5,
      rule: 'cloud-managed/availability: owner cloud',
      policy: flipped.policyVersion,
      hotelClass: 'cloud-managed',
      trigger: `policy ${id}`,
    },
  ]);
  const history = await dbs.unified
    .selectFrom('unified_field_history')
    .select(['source', 'rule', 'policy_version'])
    .where('hotel_code', '=', 'PFA')
    .where('room_code', '=', '101')
    .where('field', '=', 'rate')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  assert.deepEqual(history, { source: 'legacy', rule: 'cloud-managed/rate: owner legacy', policy_version: flipped.policyVersion });

  // The re-resolution is findable in the Temporal UI by its role.
  await waitFor('the re-resolution workflow in the SyncRole list', async () => {
    for await (const execution of env.client.workflow.list({ query: `SyncRole = 're-resolution'` })) {
      if (execution.workflowId === `policy-re-resolution/${id}`) return true;
    }
    return false;
  });

  const show = await roomSync('policy', 'show');
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^active: ${flipped.policyVersion.replace('.', '\\.')} \\(#${id}, applied .* from ${flipFile}\\)\\n`));
  assert.match(show.stdout, /cloud-managed:\n {4}rate: legacy/, 'the file as applied, comments and all');
  const log = await roomSync('policy', 'history');
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, new RegExp(`#${id} \\S+ ${flipped.policyVersion} by .* from ${flipFile}\\n {4}class cloud-managed, rate: owner cloud -> legacy\\n`));
  assert.match(log.stdout, /\n {4}version: \(none\) -> cloud-rate-from-legacy\n/);

  // Applying the active policy again records nothing and re-resolves nothing.
  const again = await roomSync('policy', 'apply', flipFile);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`already the active policy \\(#${id}\\)`));
  assert.equal((await policyActivations()).length, Number(id));
});

test('the running worker applies the new policy to the next changes, without a restart', async () => {
  const audit = await readAudit(dbs.unified);
  await dbs.cloud.query(`UPDATE room_inventory SET nightly_rate = 131.00 WHERE room_code = '101' AND property_id = (SELECT id FROM properties WHERE external_code = 'pfa')`);
  // PFC/301 kept its old version (the flip decides it the same way): its next change takes the new one, and is no re-resolution.
  await dbs.cloud.query(`UPDATE room_inventory SET nightly_rate = 86.00 WHERE room_code = '301'`);
  await waitFor('both changes applied', async () => (await auditAfter(audit)).length >= 2);
  assert.deepEqual(
    (await auditAfter(audit)).map(describeAudit).sort((a, b) => (a.room < b.room ? -1 : 1)).map(({ room, field, winner, rule, policy: version, trigger }) => ({ room, field, winner, rule, version, trigger: trigger.split(' ')[0] })),
    [
      { room: 'PFA/101', field: 'rate', winner: 'legacy', rule: 'cloud-managed/rate: owner legacy', version: flipped.policyVersion, trigger: 'cloud' },
      { room: 'PFC/301', field: 'rate', winner: 'legacy', rule: 'default/rate: owner legacy', version: flipped.policyVersion, trigger: 'cloud' },
    ],
  );
  assert.equal((await unifiedRoom('PFC', '301')).policy_version, flipped.policyVersion);
});

test('a class change re-resolves the hotel\'s rooms and audits every differing field under the class now in force', async () => {
  const audit = await readAudit(dbs.unified);
  await dbs.legacy.query(`UPDATE htl_property SET mgmt_typ = 'C' WHERE prop_cd = 'PFB'`);
  await waitFor('PFB/201 re-classed', async () => (await unifiedRoom('PFB', '201')).hotel_class === 'cloud-managed');
  const hotelPosition = (await dbs.unified.selectFrom('legacy_hotels').select('position').where('hotel_code', '=', 'PFB').executeTakeFirstOrThrow()).position;
  // Rate (10000 vs 11000) and room type (twin vs double) differ; availability and status agree. No value changed.
  assert.deepEqual((await auditAfter(audit)).map(describeAudit), [
    {
      room: 'PFB/201',
      field: 'rate',
      winner: 'legacy',
      winning: { rate_minor: 10000, currency: 'EUR' },
      rule: 'cloud-managed/rate: owner legacy',
      policy: flipped.policyVersion,
      hotelClass: 'cloud-managed',
      trigger: `legacy ${hotelPosition}`,
    },
    {
      room: 'PFB/201',
      field: 'room_type',
      winner: 'cloud',
      winning: 'double',
      rule: 'cloud-managed/room_type: owner cloud',
      policy: flipped.policyVersion,
      hotelClass: 'cloud-managed',
      trigger: `legacy ${hotelPosition}`,
    },
  ]);
  assert.equal((await unifiedRoom('PFB', '201')).room_type, 'double');
});

test('a room worker killed half-way through a re-resolution: after a worker starts again every affected room is re-resolved, once', async () => {
  // 100 more cloud-managed rooms, all differing on rate: under the flip legacy's rate wins.
  const rooms = Array.from({ length: 100 }, (_, index) => String(500 + index));
  await insertLegacyProperty(dbs.legacy, 'PFK', 'C', 'EUR');
  const pfk = await insertCloudProperty(dbs.cloud, 'PFK');
  for (const [index, room] of rooms.entries()) {
    await insertLegacyRoom(dbs.legacy, 'PFK', room, { rm_typ_cd: 'DBL', rate_amt: 12000 + index, allot_qty: 2, stat_cd: 'A' });
    await insertCloudRoom(dbs.cloud, pfk, room, { room_type: 'double', nightly_rate: '130.00', currency: 'EUR', available_count: 2, is_active: true });
  }
  const pfkRows = () => dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', 'PFK').execute();
  await waitFor('the PFK rooms under the flip', async () => {
    const loaded = await pfkRows();
    return loaded.length === rooms.length && loaded.every((row) => row.rate_source === 'legacy' && row.policy_version === flipped.policyVersion);
  });
  const audit = await readAudit(dbs.unified);

  // The room worker runs as its own process (`room-sync worker --only rooms`), so it can be killed outright.
  await pipeline.stopWorker();
  const worker = spawnRoomSync('worker', '--only', 'rooms');
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  // Back to the business's list: the same version as activation #1, applied anew. Small batches make it take a while.
  const applying = roomSync('policy', 'apply', defaultFile, '--batch-size', '4');
  const backUnder = async () => (await pfkRows()).filter((row) => row.policy_version === policy.policyVersion).length;
  await waitFor('the re-resolution under way', async () => (await backUnder()) >= 8, { timeoutMs: 90_000, intervalMs: 20 });
  worker.kill('SIGKILL');
  await exited;
  const atKill = await backUnder();
  assert.ok(atKill < rooms.length, `killed half-way (${atKill} of ${rooms.length} done)`);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(await backUnder(), atKill, 'nothing moves while no worker runs');
  await pipeline.startWorker();

  const run = await applying;
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const activation = (await policyActivations()).at(-1);
  assert.equal(activation?.version, policy.policyVersion, 'a version applied before is a new activation');
  const id = activation?.id ?? '';
  // PFA's three rooms, PFB/201 (cloud-managed now) and the 100: PFC/301 is decided the same way by both.
  assert.match(run.stdout, /: done, 105 room\(s\) scanned, 104\/104 re-resolved/);

  const after = await unifiedRows();
  assert.deepEqual(
    after.filter((row) => row.policy_version !== policy.policyVersion).map((row) => `${row.hotel_code}/${row.room_code}`),
    ['PFC/301'],
  );
  for (const row of after.filter((candidate) => candidate.hotel_code === 'PFK')) assert.equal(row.rate_source, 'cloud');
  // Once each: one audit row per room and differing field for this activation, and one field history row.
  const reResolution = (await auditAfter(audit)).filter((row) => row.trigger_source === 'policy');
  assert.ok(reResolution.every((row) => row.trigger_position === id && row.policy_version === policy.policyVersion));
  const pfkAudit = reResolution.filter((row) => row.hotel_code === 'PFK');
  assert.deepEqual(pfkAudit.map((row) => row.room_code).sort(), rooms);
  assert.ok(pfkAudit.every((row) => row.field === 'rate' && row.winning_source === 'cloud' && row.rule === 'cloud-managed/rate: owner cloud'));
  const historyRows = await dbs.unified
    .selectFrom('unified_field_history')
    .select(['room_code'])
    .where('hotel_code', '=', 'PFK')
    .where('field', '=', 'rate')
    .where('policy_version', '=', policy.policyVersion)
    .where('source', '=', 'cloud')
    .execute();
  assert.equal(historyRows.length, rooms.length);
});
