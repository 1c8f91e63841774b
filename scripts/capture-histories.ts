// Captures real workflow histories for the replay test (test/unit/replay-histories.test.ts):
// each scenario runs against a real Temporal dev server and real Postgres, through the
// real worker (and, where the scenario is about CDC, the real connectors), then every run
// of the workflow it drove is written as `temporal workflow show -o json` writes it.
//
//   npm run histories:capture                      every scenario
//   npm run histories:capture -- quarantine fallback   only those
//
// See test/histories/README.md for when to regenerate.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { stringify as toYaml } from 'yaml';
import { ensureLagMonitor } from '../src/app/lag-monitor.js';
import { applyPolicy, awaitReResolution } from '../src/app/policy-change.js';
import { parsePolicy, policyDocumentOf } from '../src/policy/load.js';
import type { Policy } from '../src/policy/schema.js';
import { historyToJson } from '../src/cli/replay-command.js';
import type { SourceChange } from '../src/mapping/change.js';
import { roomWorkflowId } from '../src/routing/room-routing.js';
import { projectRoot } from '../src/setup/source-schemas.js';
import { lagMonitorWorkflowId, monitorStateQuery, retryDeadLettersSignal, roomStateQuery, sourceChangesSignal, type MonitorSettings, type RoomState } from '../src/workflows/messages.js';
import { roomWorkflow } from '../src/workflows/room.js';
import { roomSearchAttributes } from '../src/workflows/search-attributes.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../test/support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../test/support/workload.js';

const historiesDir = path.join(projectRoot, 'test', 'histories');

interface Context {
  readonly env: TestWorkflowEnvironment;
  readonly dbs: TestDatabases;
  readonly pipeline: TestPipeline;
}

/** A scenario drives the pipeline and names the workflow whose runs it wants kept. */
interface Scenario {
  readonly description: string;
  run(context: Context): Promise<string>;
}

const roomState = (client: Client, workflowId: string) => client.workflow.getHandle(workflowId).query(roomStateQuery);

/** Applies the default policy with cloud-managed owners changed (a version of its own, so a scenario runs alone too), and waits for its re-resolution. */
async function applyCloudManaged(context: Context, version: string, owners: Record<string, string>): Promise<string> {
  const base = await defaultPolicy();
  const document = policyDocumentOf(base);
  const policy: Policy = parsePolicy({ ...document, version, classes: { ...document.classes, 'cloud-managed': { ...document.classes['cloud-managed'], ...owners } } }, version);
  const applied = await applyPolicy(
    context.dbs.unified,
    context.env.client,
    context.pipeline.taskQueue,
    { policy, sourceText: toYaml(policyDocumentOf(policy)), sourceFile: `capture:${version}`, appliedBy: 'capture-histories' },
    base,
    { pageSize: 2 },
  );
  const result = await awaitReResolution(context.env.client, applied.workflowId);
  if (result.state !== 'done') throw new Error(`${applied.workflowId}: ${result.state}`);
  return applied.workflowId;
}

/** Polls the room workflow's query until `done` holds and nothing is pending. */
async function waitForRoom(client: Client, workflowId: string, description: string, done: (state: RoomState) => boolean): Promise<RoomState> {
  return waitFor(
    `${workflowId}: ${description}`,
    async () => {
      const state = await roomState(client, workflowId);
      return state.pendingChanges === 0 && state.pendingRetries === 0 && done(state) ? state : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}

const scenarios: Readonly<Record<string, Scenario>> = {
  conflicts: {
    description: 'a legacy-managed room both sources have, disagreeing on rate and availability, twice',
    async run({ env, dbs }) {
      const workflowId = roomWorkflowId({ hotelCode: 'CONF1', roomCode: '101' });
      await insertLegacyProperty(dbs.legacy, 'CONF1', 'L', 'EUR');
      const property = await insertCloudProperty(dbs.cloud, 'CONF1');
      await insertLegacyRoom(dbs.legacy, 'CONF1', '101', { rm_typ_cd: 'KNG', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' });
      await insertCloudRoom(dbs.cloud, property, '101', { room_type: 'king', nightly_rate: '135.00', currency: 'EUR', available_count: 5, is_active: true });
      await waitForRoom(env.client, workflowId, 'both sources applied', (state) => (state.row?.lastPositions.legacy ?? null) !== null && (state.row?.lastPositions.cloud ?? null) !== null);
      await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 13900, allot_qty = 1 WHERE prop_cd = 'CONF1' AND rm_nbr = '101'`);
      await waitForRoom(env.client, workflowId, 'the legacy update applied', (state) => state.row?.rateMinor === 13900);
      await dbs.cloud.query(`UPDATE room_inventory SET nightly_rate = 99.00, available_count = 2 WHERE property_id = $1 AND room_code = '101'`, [property]);
      await waitForRoom(env.client, workflowId, 'the cloud update applied', (state) => state.row?.availability === 2);
      return workflowId;
    },
  },

  fallback: {
    description: 'a room first only in the cloud, then in legacy with no rate (the owner has null), then with one',
    async run({ env, dbs }) {
      const workflowId = roomWorkflowId({ hotelCode: 'FALL1', roomCode: '201' });
      await insertLegacyProperty(dbs.legacy, 'FALL1', 'L', 'EUR');
      const property = await insertCloudProperty(dbs.cloud, 'FALL1');
      await insertCloudRoom(dbs.cloud, property, '201', { room_type: 'twin', nightly_rate: '88.00', currency: 'EUR', available_count: 4, is_active: true });
      await waitForRoom(env.client, workflowId, 'the cloud-only room applied', (state) => state.row?.sources.rate === 'cloud');
      await insertLegacyRoom(dbs.legacy, 'FALL1', '201', { rm_typ_cd: 'TWN', rate_amt: null, allot_qty: null, stat_cd: 'A' });
      await waitForRoom(env.client, workflowId, 'the legacy row without a rate applied', (state) => (state.row?.lastPositions.legacy ?? null) !== null);
      await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 9100 WHERE prop_cd = 'FALL1' AND rm_nbr = '201'`);
      await waitForRoom(env.client, workflowId, 'legacy owning the rate again', (state) => state.row?.sources.rate === 'legacy' && state.row.rateMinor === 9100);
      return workflowId;
    },
  },

  'class-change': {
    description: 'the legacy property turns from legacy-managed (L) to cloud-managed (C) while the room exists',
    async run({ env, dbs }) {
      const workflowId = roomWorkflowId({ hotelCode: 'CLS1', roomCode: '301' });
      await insertLegacyProperty(dbs.legacy, 'CLS1', 'L', 'EUR');
      const property = await insertCloudProperty(dbs.cloud, 'CLS1');
      await insertLegacyRoom(dbs.legacy, 'CLS1', '301', { rm_typ_cd: 'DBL', rate_amt: 10000, allot_qty: 2, stat_cd: 'A' });
      await insertCloudRoom(dbs.cloud, property, '301', { room_type: 'double', nightly_rate: '110.00', currency: 'EUR', available_count: 2, is_active: true });
      await waitForRoom(env.client, workflowId, 'both sources applied', (state) => (state.row?.lastPositions.legacy ?? null) !== null && (state.row?.lastPositions.cloud ?? null) !== null);
      await dbs.legacy.query(`UPDATE htl_property SET mgmt_typ = 'C' WHERE prop_cd = 'CLS1'`);
      await waitForRoom(env.client, workflowId, 'the class change applied', (state) => state.row?.hotelClass === 'cloud-managed' && state.row.rateMinor === 11000);
      return workflowId;
    },
  },

  'continue-as-new': {
    description: 'a room workflow with maxBatchesPerRun 2 given five batches: three runs',
    async run({ env, pipeline }) {
      const room = { hotelCode: 'CAN1', roomCode: '401' };
      const workflowId = roomWorkflowId(room);
      for (let index = 0; index < 5; index++) {
        const source = index % 2 === 0 ? 'legacy' : 'cloud';
        const change: SourceChange = {
          kind: 'room',
          source,
          hotelCode: room.hotelCode,
          roomCode: room.roomCode,
          position: `00000000070000${String(index).padStart(2, '0')}:00000001`,
          commitTime: `2026-11-27T09:00:0${index}.000Z`,
          values: { roomType: 'twin', rateMinor: 5000 + index, currency: source === 'legacy' ? null : 'EUR', availability: index, status: 'open' },
        };
        await env.client.workflow.signalWithStart(roomWorkflow, {
          workflowId,
          taskQueue: pipeline.taskQueue,
          args: [{ room, maxBatchesPerRun: 2 }],
          signal: sourceChangesSignal,
          signalArgs: [[change]],
          typedSearchAttributes: roomSearchAttributes(room),
        });
        // One batch per change: wait for it before the next, so the runs are always 2 + 2 + 1.
        await waitForRoom(env.client, workflowId, `change ${index} applied`, (state) => state.row?.lastPositions[source] === change.position);
      }
      return workflowId;
    },
  },

  quarantine: {
    description: "a room whose apply keeps failing (a trigger on unified_rooms) is quarantined, then its dead letters are retried once it is fixed",
    async run({ env, dbs }) {
      const room = { hotelCode: 'QRT1', roomCode: '501' };
      const workflowId = roomWorkflowId(room);
      await insertLegacyProperty(dbs.legacy, 'QRT1', 'L', 'EUR');
      await insertLegacyRoom(dbs.legacy, 'QRT1', '501', { rm_typ_cd: 'SGL', rate_amt: 7000, allot_qty: 2, stat_cd: 'A' });
      await waitForRoom(env.client, workflowId, 'the room applied', (state) => state.row !== null);
      process.stdout.write('  (the worker now logs four failed applies and the quarantine: expected)\n');
      await dbs.unifiedPool.query(`
        CREATE FUNCTION capture_fail_room() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'capture-histories: room % is made to fail', NEW.room_code; END $$;
        CREATE TRIGGER capture_fail_room BEFORE INSERT OR UPDATE ON unified_rooms
          FOR EACH ROW WHEN (NEW.hotel_code = 'QRT1' AND NEW.room_code = '501') EXECUTE FUNCTION capture_fail_room();`);
      try {
        await dbs.legacy.query(`UPDATE htl_room_inv SET allot_qty = 1 WHERE prop_cd = 'QRT1' AND rm_nbr = '501'`);
        await waitForRoom(env.client, workflowId, 'the room quarantined', (state) => state.quarantine !== null);
      } finally {
        await dbs.unifiedPool.query('DROP TRIGGER capture_fail_room ON unified_rooms; DROP FUNCTION capture_fail_room();');
      }
      // What `room-sync dead-letters retry` does: the dead-lettered changes, delivered again.
      const letters = await dbs.unified
        .selectFrom('dead_letters')
        .select(['id', 'raw'])
        .where('hotel_code', '=', room.hotelCode)
        .where('room_code', '=', room.roomCode)
        .where('table_name', '=', 'room-apply')
        .where('retry_outcome', 'is', null)
        .orderBy('id')
        .execute();
      if (letters.length === 0) throw new Error('quarantine: no dead letters to retry');
      await env.client.workflow
        .getHandle(workflowId)
        .signal(retryDeadLettersSignal, { deadLetterIds: letters.map((letter) => letter.id), changes: letters.map((letter) => letter.raw as SourceChange) });
      await waitForRoom(env.client, workflowId, 'the quarantine lifted', (state) => state.quarantine === null && state.row?.availability === 1);
      return workflowId;
    },
  },

  're-resolve': {
    description: 'a cloud-managed room disagreeing on rate; a policy that takes its rate from legacy re-resolves it; then a cloud change',
    async run(context) {
      const { env, dbs } = context;
      const workflowId = roomWorkflowId({ hotelCode: 'RRS1', roomCode: '601' });
      await insertLegacyProperty(dbs.legacy, 'RRS1', 'C', 'EUR');
      const property = await insertCloudProperty(dbs.cloud, 'RRS1');
      await insertLegacyRoom(dbs.legacy, 'RRS1', '601', { rm_typ_cd: 'DBL', rate_amt: 12000, allot_qty: 2, stat_cd: 'A' });
      await insertCloudRoom(dbs.cloud, property, '601', { room_type: 'double', nightly_rate: '129.00', currency: 'EUR', available_count: 3, is_active: true });
      await waitForRoom(env.client, workflowId, 'both sources applied', (state) => (state.row?.lastPositions.legacy ?? null) !== null && (state.row?.lastPositions.cloud ?? null) !== null);
      await applyCloudManaged(context, 'capture-re-resolve', { rate: 'legacy' });
      await waitForRoom(env.client, workflowId, 're-resolved', (state) => state.row?.sources.rate === 'legacy');
      await dbs.cloud.query(`UPDATE room_inventory SET available_count = 1 WHERE property_id = $1 AND room_code = '601'`, [property]);
      await waitForRoom(env.client, workflowId, 'the cloud update applied', (state) => state.row?.availability === 1);
      return workflowId;
    },
  },

  're-resolution': {
    description: "a policy's re-resolution workflow over three affected rooms, two per batch",
    async run(context) {
      const { env, dbs } = context;
      await insertLegacyProperty(dbs.legacy, 'RRW1', 'C', 'EUR');
      const property = await insertCloudProperty(dbs.cloud, 'RRW1');
      for (const room of ['701', '702', '703']) {
        await insertLegacyRoom(dbs.legacy, 'RRW1', room, { rm_typ_cd: 'KNG', rate_amt: 12900, allot_qty: 2, stat_cd: 'A' });
        await insertCloudRoom(dbs.cloud, property, room, { room_type: 'double', nightly_rate: '129.00', currency: 'EUR', available_count: 2, is_active: true });
        const roomId = roomWorkflowId({ hotelCode: 'RRW1', roomCode: room });
        await waitForRoom(env.client, roomId, 'both sources applied', (state) => (state.row?.lastPositions.legacy ?? null) !== null && (state.row?.lastPositions.cloud ?? null) !== null);
      }
      // Room type from legacy: king instead of double, whatever the rate owner is.
      return applyCloudManaged(context, 'capture-re-resolution', { room_type: 'legacy' });
    },
  },

  'lag-monitor': {
    description: 'the lag monitor, as the worker start ensures it, through a few checks',
    async run({ env, pipeline }) {
      const settings: MonitorSettings = {
        thresholds: { warnSeconds: 30, pageSeconds: 120, clearRatio: 0.5, clearChecks: 2 },
        checkIntervalSeconds: 0.5,
        staleAfterSeconds: 60,
        validForSeconds: 30,
        channelNames: [],
      };
      await ensureLagMonitor(env.client, pipeline.taskQueue, settings, lagMonitorWorkflowId);
      const handle = env.client.workflow.getHandle(lagMonitorWorkflowId);
      await waitFor('three lag checks', async () => (await handle.query(monitorStateQuery)).checks >= 3, { timeoutMs: 30_000 });
      // A snapshot of a running workflow would catch it mid-task; stopped, the history is fixed.
      await handle.terminate('capture-histories: enough checks');
      return lagMonitorWorkflowId;
    },
  },
};

/** Every run of the workflow, oldest first: walks back along each start's continuedExecutionRunId. */
async function fetchRuns(client: Client, workflowId: string): Promise<{ runId: string; history: History }[]> {
  const latest = await client.workflow.getHandle(workflowId).describe();
  const runs: { runId: string; history: History }[] = [];
  for (let runId: string | undefined = latest.runId; runId; ) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.unshift({ runId, history });
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
  }
  return runs;
}

/** Waits until no workflow task is scheduled or running, so the history ends between tasks. */
async function waitUntilIdle(client: Client, workflowId: string): Promise<void> {
  await waitFor(`${workflowId} to be idle`, async () => {
    const description = await client.workflow.getHandle(workflowId).describe();
    return description.status.name !== 'RUNNING' || !description.raw.pendingWorkflowTask;
  });
}

async function writeRuns(name: string, workflowId: string, runs: readonly { runId: string; history: History }[]): Promise<void> {
  for (const file of await readdir(historiesDir)) {
    if (file === `${name}.json` || (file.startsWith(`${name}.run`) && file.endsWith('.json'))) await rm(path.join(historiesDir, file));
  }
  for (const [index, run] of runs.entries()) {
    const file = runs.length === 1 ? `${name}.json` : `${name}.run${index + 1}.json`;
    const text = `${historyToJson(run.history)}\n`;
    await writeFile(path.join(historiesDir, file), text);
    process.stdout.write(`  ${file.padEnd(28)} ${workflowId} ${run.runId} ${String(run.history.events?.length ?? 0).padStart(3)} events ${(text.length / 1024).toFixed(1).padStart(5)} KB\n`);
  }
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in scenarios));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}\n`);
    process.exit(2);
  }
  const selected = wanted.length > 0 ? wanted : Object.keys(scenarios);
  await mkdir(historiesDir, { recursive: true });

  const startedAt = Date.now();
  const env = await startTestTemporal();
  const dbs = await createTestDatabases('histories');
  const pipeline = new TestPipeline(env, dbs, await defaultPolicy());
  try {
    await pipeline.start();
    process.stdout.write(`Temporal dev server, databases, worker and connectors ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
    for (const name of selected) {
      const scenario = scenarios[name];
      if (!scenario) continue;
      const scenarioStart = Date.now();
      process.stdout.write(`${name}: ${scenario.description}\n`);
      const workflowId = await scenario.run({ env, dbs, pipeline });
      await waitUntilIdle(env.client, workflowId);
      await writeRuns(name, workflowId, await fetchRuns(env.client, workflowId));
      process.stdout.write(`  (${((Date.now() - scenarioStart) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    await pipeline.stop();
    await dbs.drop();
    await env.teardown();
  }
  process.stdout.write(`captured ${selected.length} scenario(s) in ${((Date.now() - startedAt) / 1000).toFixed(1)} s into ${path.relative(process.cwd(), historiesDir)}/\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`capture-histories: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
