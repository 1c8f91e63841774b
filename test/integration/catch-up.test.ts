// After a restart, catching up is not an outage. The whole pipeline (worker with the lag
// monitor, both connectors) is down past the paging threshold, then restarted as `npm start`
// starts it (worker first): a source that was idle, one with a backlog and one whose slot was
// dropped meanwhile must not page; a source that stays unreachable after the restart still pages.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureLagMonitor } from '../../src/app/lag-monitor.js';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import type { SourceName } from '../../src/domain/room.js';
import type { AlertChannel } from '../../src/monitoring/channels.js';
import { monitorStateQuery, type MonitorSettings } from '../../src/workflows/messages.js';
import { monitorTaskQueue } from '../../src/workers/task-queues.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, workflowBundle, type TestDatabases } from '../support/environment.js';
import { replayWorkflowHistory } from '../../src/workers/worker.js';

// Short thresholds through configuration; every wait below is derived from them. The check
// interval leaves the connectors (started right after the worker) time to connect before the
// monitor's second check after the restart, as the 5 s default does.
const settings: MonitorSettings = {
  thresholds: { warnSeconds: 5, pageSeconds: 15, clearRatio: 0.5, clearChecks: 2 },
  checkIntervalSeconds: 2,
  staleAfterSeconds: 60,
  validForSeconds: 20,
  channelNames: ['pagerduty', 'webhook'],
  catchupGraceSeconds: 90,
};
// Past the paging threshold and past the monitor's trend window (2 checks + 10 s): the monitor was down as long.
const downForMs = (Math.max(settings.thresholds.pageSeconds, settings.checkIntervalSeconds * 2 + 10) + 3) * 1000;
const heartbeatIntervalMs = 1_000;

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;
let cloudPropertyId = '';
const monitorWorkflowId = `lag-monitor-${randomUUID()}`;
const receiver = new AlertReceiver();

before(async () => {
  await receiver.start();
  env = await startTestTemporal();
  dbs = await createTestDatabases('catchup');
  await dbs.legacy.query(`INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd) VALUES ('RST001', 'Restart', 'L', 'EUR')`);
  await dbs.legacy.query(`INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty) VALUES ('RST001', '1', 'DBL', 10000, 3), ('RST001', '2', 'TWN', 11000, 2)`);
  cloudPropertyId = randomUUID();
  await dbs.cloud.query(`INSERT INTO properties (id, external_code, display_name, timezone) VALUES ($1, 'rst001', 'Restart', 'Europe/Berlin')`, [cloudPropertyId]);
  for (let room = 1; room <= 20; room += 1) {
    await dbs.cloud.query(
      `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count) VALUES ($1, $2, $3, 'double', 100, 'EUR', 4)`,
      [randomUUID(), cloudPropertyId, String(room)],
    );
  }
  const channels: AlertChannel[] = [
    { name: 'pagerduty', kind: 'pagerduty', url: receiver.url('/pagerduty'), routingKey: 'test-routing-key' },
    { name: 'webhook', kind: 'webhook', url: receiver.url('/webhook') },
  ];
  pipeline = new TestPipeline(env, dbs, await defaultPolicy(), { heartbeatIntervalMs, channels });
  await pipeline.start();
  await ensureLagMonitor(env.client, pipeline.taskQueue, settings, monitorWorkflowId);
  await waitFor('all rooms applied', async () => {
    const rows = await dbs.unified.selectFrom('unified_rooms').select('room_code').execute();
    return rows.length === 20 ? rows : undefined;
  }, { timeoutMs: 60_000 });
  await settled();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  await receiver.stop();
});

const pagerEvents = () => receiver.on('/pagerduty').map((event) => event.body);
const webhookEvents = () => receiver.on('/webhook').map((event) => event.body);
const pages = () => dbs.unified.selectFrom('alerts').selectAll().where('severity', '=', 'page').execute();

/** Every incident resolved, nothing waiting to be applied, and two checks of every source under the warning threshold. */
async function settled(): Promise<void> {
  await waitFor('all incidents resolved and the lag low', async () => {
    const open = await dbs.unified.selectFrom('alerts').select('id').where('resolved_at', 'is', null).execute();
    const unapplied = await dbs.unified.selectFrom('unapplied_changes').select('position').execute();
    const state = await env.client.workflow.getHandle(monitorWorkflowId).query(monitorStateQuery);
    const low = state.lastReadings.length === 2 && state.lastReadings.every((reading) => (reading.appliedLagSeconds ?? Infinity) < settings.thresholds.warnSeconds);
    return open.length === 0 && unapplied.length === 0 && low && Object.values(state.sources).every((source) => source.level === 'ok');
  }, { timeoutMs: 120_000, intervalMs: 250 });
}

/** What the monitor read and decided after a restart, polled from its state query. */
class MonitorWatch {
  readonly catchingUp = new Set<SourceName>();
  readonly paging = new Set<SourceName>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor() {
    this.loop = this.poll();
  }

  private async poll(): Promise<void> {
    const handle = env.client.workflow.getHandle(monitorWorkflowId);
    while (this.running) {
      try {
        const state = await handle.query(monitorStateQuery);
        for (const reading of state.lastReadings) if ((reading.catchingUpSeconds ?? null) !== null) this.catchingUp.add(reading.source);
        for (const [source, alert] of Object.entries(state.sources)) if (alert.level === 'paging') this.paging.add(source as SourceName);
      } catch {
        // No worker yet to answer the query: it is restarting.
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Worker (and monitor) and both connectors down; `whileDown` runs at the start of the downtime. */
async function downtime(whileDown: () => Promise<void>): Promise<void> {
  await pipeline.stopConnector('legacy');
  await pipeline.stopConnector('cloud');
  await pipeline.stopWorker();
  const stoppedAt = Date.now();
  await whileDown();
  const left = downForMs - (Date.now() - stoppedAt);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}

/** As `npm start`: the worker (the monitor resumes), then the connectors. */
async function restart(sources: readonly SourceName[] = ['legacy', 'cloud']): Promise<void> {
  await pipeline.startWorker();
  for (const source of sources) await pipeline.startConnector(source);
}

test('restarted after downtime past the paging threshold, an idle source and one with a backlog catch up: warnings, no page', { timeout: 300_000 }, async () => {
  const pagerBefore = pagerEvents().length;
  const webhookBefore = webhookEvents().length;
  // Legacy stays idle; cloud partners keep writing while the pipeline is down: one change per transaction.
  await downtime(async () => {
    for (let change = 0; change < 600; change += 1) {
      await dbs.cloud.query(`UPDATE room_inventory SET available_count = $1, version = version + 1 WHERE property_id = $2 AND room_code = $3`, [
        change % 9,
        cloudPropertyId,
        String((change % 20) + 1),
      ]);
    }
  });
  const watch = new MonitorWatch();
  await restart();
  try {
    await waitFor('a lag incident after the restart', async () => (webhookEvents().length > webhookBefore ? true : undefined), { timeoutMs: 60_000 });
    await settled();
  } finally {
    await watch.stop();
  }
  assert.ok(watch.catchingUp.has('cloud'), 'the monitor read the cloud connector catching up its backlog');
  assert.deepEqual([...watch.paging], [], 'no source was paging at any check');
  assert.deepEqual(await pages(), []);
  assert.deepEqual(pagerEvents().slice(pagerBefore), [], 'PagerDuty heard nothing');
  const after = webhookEvents().slice(webhookBefore);
  assert.ok(after.every((event) => event['type'] === 'room-sync.lag.warn' || event['type'] === 'room-sync.lag.resolve'), JSON.stringify(after.map((event) => event['type'])));
  assert.ok(after.some((event) => event['type'] === 'room-sync.lag.warn' && event['catching_up'] === true), 'the warning says it is catching up');
  console.log(`catch-up.test: warnings ${after.filter((event) => event['type'] === 'room-sync.lag.warn').map((event) => `${String(event['source'])}${event['connected_seconds_ago'] === undefined ? '' : ' (connector catching up)'}`).join(', ')}`);
});

test('a slot dropped while the pipeline was down: re-snapshotted after the restart, a warning alert (subject slot), no page', { timeout: 300_000 }, async () => {
  const pagerBefore = pagerEvents().length;
  const webhookBefore = webhookEvents().length;
  const { slotName } = describeSource('cloud', dbs.urls.cloud);
  await downtime(async () => {
    await waitFor(`slot ${slotName} inactive`, async () => {
      const { rows } = await dbs.cloud.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
      return rows[0]?.active === false ? true : undefined;
    });
    await dbs.cloud.query('SELECT pg_drop_replication_slot($1)', [slotName]);
    // Seen by no slot: only the re-snapshot brings it.
    await dbs.cloud.query(`UPDATE room_inventory SET available_count = 7, version = version + 1 WHERE property_id = $1 AND room_code = '5'`, [cloudPropertyId]);
  });
  const watch = new MonitorWatch();
  await restart();
  try {
    const slotAlert = await waitFor('the slot warning resolved', async () => {
      const rows = await dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'slot').where('source', '=', 'cloud').execute();
      return rows.length === 1 && rows[0]?.resolved_at !== null ? rows[0] : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(slotAlert?.severity, 'warning');
    assert.match(slotAlert?.message ?? '', /cloud replication slot was gone \(dropped\)/);
    await settled();
  } finally {
    await watch.stop();
  }
  const room5 = await dbs.unified.selectFrom('unified_rooms').select('availability').where('hotel_code', '=', 'RST001').where('room_code', '=', '5').executeTakeFirstOrThrow();
  assert.equal(room5.availability, 7, 'the change made while no slot recorded arrived through the re-snapshot');
  const cursor = await dbs.unified.selectFrom('cdc_cursors').selectAll().where('source', '=', 'cloud').executeTakeFirstOrThrow();
  assert.equal(cursor.slot_lost_reason, 'dropped');
  assert.deepEqual([...watch.paging], [], 'no source was paging at any check');
  assert.deepEqual(await pages(), []);
  assert.deepEqual(pagerEvents().slice(pagerBefore), [], 'PagerDuty heard nothing, not even of the slot');
  const types = webhookEvents().slice(webhookBefore).map((event) => event['type']);
  assert.ok(types.includes('room-sync.slot.warn') && types.includes('room-sync.slot.resolve'), JSON.stringify(types));
  assert.ok(!types.includes('room-sync.lag.page'));
});

test('a source that stays unreachable after the restart still pages; the one that came back does not', { timeout: 300_000 }, async () => {
  const database = new URL(dbs.urls.cloud).pathname.slice(1);
  await downtime(async () => {
    await dbs.unifiedPool.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
    await dbs.unifiedPool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
  });
  try {
    await restart(['legacy']);
    await assert.rejects(pipeline.startConnector('cloud'), 'the cloud connector cannot start');
    const trigger = await waitFor('a cloud lag page', async () =>
      pagerEvents().find((event) => event['dedup_key'] === 'room-sync/lag/cloud' && event['event_action'] === 'trigger'), { timeoutMs: 60_000 });
    assert.match(String((trigger['payload'] as Record<string, unknown>)['summary']), /cloud CDC lag/);
    const [page] = (await pages()).filter((row) => row.subject === 'lag');
    assert.equal(page?.source, 'cloud');
    assert.deepEqual((await pages()).filter((row) => row.source === 'legacy'), [], 'legacy, back, does not page');
  } finally {
    await dbs.unifiedPool.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
  }
  await pipeline.stopConnector('cloud');
  await pipeline.startConnector('cloud');
  await settled();
});

test('the monitor workflow history replays deterministically with the current code', async () => {
  const history = await env.client.workflow.getHandle(monitorWorkflowId).fetchHistory();
  await replayWorkflowHistory(history, monitorWorkflowId, await workflowBundle());
  assert.equal((await env.client.workflow.getHandle(monitorWorkflowId).describe()).taskQueue, monitorTaskQueue(pipeline.taskQueue));
});
