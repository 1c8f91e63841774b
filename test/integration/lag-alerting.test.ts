import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { sql } from 'kysely';
import { ensureLagMonitor } from '../../src/app/lag-monitor.js';
import { formatHealthReport, readPipelineCounts, readPipelineHealth } from '../../src/app/status.js';
import type { AlertChannel } from '../../src/monitoring/channels.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startMetricsServer } from '../../src/observability/metrics-server.js';
import type { MonitorSettings } from '../../src/workflows/messages.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, workflowBundle, type TestDatabases } from '../support/environment.js';
import { replayWorkflowHistory } from '../../src/workers/worker.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';

// Short thresholds through configuration; every wait below is derived from them.
const settings: MonitorSettings = {
  thresholds: { warnSeconds: 2, pageSeconds: 4, clearRatio: 0.5, clearChecks: 2 },
  checkIntervalSeconds: 0.5,
  staleAfterSeconds: 6,
  validForSeconds: 3,
  channelNames: ['pagerduty', 'webhook-1', 'webhook-2'],
};
const heartbeatIntervalMs = 250;
const pageWithinMs = (settings.thresholds.pageSeconds + settings.checkIntervalSeconds) * 1000;

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;
const monitorWorkflowId = `lag-monitor-${randomUUID()}`;
const receiver = new AlertReceiver();
const metrics = createMetrics();
let metricsUrl = '';
let closeMetrics: () => Promise<void> = async () => undefined;

before(async () => {
  await receiver.start();
  env = await startTestTemporal();
  dbs = await createTestDatabases('lag');
  await dbs.legacy.query(`INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd) VALUES ('AMS001', 'Amsterdam', 'L', 'EUR')`);
  await dbs.legacy.query(`INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty) VALUES ('AMS001', '1', 'DBL', 10000, 3), ('AMS001', '2', 'TWN', 11000, 2)`);
  const propertyId = randomUUID();
  await dbs.cloud.query(`INSERT INTO properties (id, external_code, display_name, timezone) VALUES ($1, 'ams001', 'Amsterdam', 'Europe/Amsterdam')`, [propertyId]);
  await dbs.cloud.query(
    `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count) VALUES ($1, $2, '1', 'double', 100, 'EUR', 4), ($3, $2, '3', 'suite', 300, 'EUR', 1)`,
    [randomUUID(), propertyId, randomUUID()],
  );
  const channels: AlertChannel[] = [
    { name: 'pagerduty', kind: 'pagerduty', url: receiver.url('/pagerduty'), routingKey: 'test-routing-key' },
    { name: 'webhook-1', kind: 'webhook', url: receiver.url('/webhook') },
    { name: 'webhook-2', kind: 'webhook', url: receiver.url('/fail') },
  ];
  pipeline = new TestPipeline(env, dbs, await defaultPolicy(), { heartbeatIntervalMs, channels, metrics });
  await pipeline.start();
  await ensureLagMonitor(env.client, pipeline.taskQueue, settings, monitorWorkflowId);
  const server = await startMetricsServer(metrics.registry, 0, '127.0.0.1');
  const address = server.address();
  metricsUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/metrics`;
  closeMetrics = () => new Promise((resolve) => server.close(() => resolve()));
  await waitFor('all rooms sellable', async () => {
    const rows = await dbs.unified.selectFrom('bookable_rooms').selectAll().execute();
    return rows.length === 3 && rows.every((row) => row.sellable) ? rows : undefined;
  });
});

after(async () => {
  await closeMetrics();
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  await receiver.stop();
});

const alertsFor = (source: 'legacy' | 'cloud') => dbs.unified.selectFrom('alerts').selectAll().where('source', '=', source).orderBy('id').execute();
const lagAlertsFor = async (source: 'legacy' | 'cloud') => (await alertsFor(source)).filter((row) => row.subject === 'lag');

async function lagMetric(source: 'legacy' | 'cloud'): Promise<number | null> {
  const body = await (await fetch(metricsUrl)).text();
  const match = new RegExp(`^room_sync_source_lag_seconds\\{source="${source}"\\} (\\S+)$`, 'm').exec(body);
  return match?.[1] === undefined ? null : Number(match[1]);
}

test('an idle source with heartbeats raises no alert over several thresholds', async () => {
  const quietUntil = Date.now() + 3 * settings.thresholds.pageSeconds * 1000;
  while (Date.now() < quietUntil) {
    assert.deepEqual(await dbs.unified.selectFrom('alerts').selectAll().execute(), []);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(receiver.received.length, 0);
});

test('a stopped connector pages once for its source, resolves once after restart; the other source stays ok', async () => {
  const lagBefore = (await waitFor('lag metric', () => lagMetric('legacy'))) ?? 0;
  await pipeline.stopConnector('legacy');
  const stoppedAt = Date.now();
  const [alert] = await waitFor('legacy page', async () => {
    const rows = await alertsFor('legacy');
    return rows.some((row) => row.severity === 'page') ? rows : undefined;
  }, { timeoutMs: pageWithinMs * 4 });
  assert.ok(alert?.paged_at);
  assert.ok(
    alert.paged_at.getTime() - stoppedAt <= pageWithinMs + 1_000,
    `paged ${alert.paged_at.getTime() - stoppedAt} ms after the stop; limit ${pageWithinMs} ms plus the last heartbeat`,
  );
  assert.ok(((await lagMetric('legacy')) ?? 0) > Math.max(lagBefore, settings.thresholds.pageSeconds), 'the metrics endpoint shows the lag rising');
  const pdTrigger = await waitFor('PagerDuty trigger', async () => receiver.on('/pagerduty').find((event) => event.body['event_action'] === 'trigger'));
  assert.equal(pdTrigger.body['routing_key'], 'test-routing-key');
  assert.equal(pdTrigger.body['dedup_key'], 'room-sync/lag/legacy');
  assert.match(String((pdTrigger.body['payload'] as Record<string, unknown>)['summary']), /legacy CDC lag/);

  // While paging: the rooms whose availability legacy supplies (room 2, legacy only) stop selling.
  await waitFor('room 2 not sellable', async () => {
    const row = await dbs.unified.selectFrom('bookable_rooms').selectAll().where('room_code', '=', '2').executeTakeFirst();
    return row && !row.sellable && /legacy is stale/.test(row.reason ?? '') ? row : undefined;
  }, { timeoutMs: settings.staleAfterSeconds * 3000 });

  await pipeline.startConnector('legacy');
  const resolved = await waitFor('legacy resolve', async () => {
    const rows = await alertsFor('legacy');
    return rows.every((row) => row.resolved_at !== null) ? rows : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(resolved.length, 1, 'one incident');
  await waitFor('PagerDuty resolve', async () => receiver.on('/pagerduty').find((event) => event.body['event_action'] === 'resolve'));
  // Channels are notified side by side: the webhook's resolve may land a moment after the pager's.
  await waitFor('webhook resolve', async () => receiver.on('/webhook').find((event) => event.body['type'] === 'room-sync.lag.resolve'));
  const pagerEvents = receiver.on('/pagerduty').map((event) => event.body['event_action']);
  assert.deepEqual(pagerEvents, ['trigger', 'resolve']);
  assert.deepEqual(receiver.on('/webhook').map((event) => event.body['type']), ['room-sync.lag.warn', 'room-sync.lag.page', 'room-sync.lag.resolve']);
  assert.deepEqual(await alertsFor('cloud'), []);

  // The failing channel is visible and did not stop anything.
  const failures = await dbs.unified.selectFrom('alert_deliveries').selectAll().where('channel', '=', 'webhook-2').execute();
  assert.ok(failures.length >= 1 && failures.every((row) => !row.ok && /HTTP 500/.test(row.error ?? '')));
});

test('both connectors stopped past the stale threshold: nothing is sellable, and status says why; recovery sells again', async () => {
  await pipeline.stopConnector('legacy');
  await pipeline.stopConnector('cloud');
  const rows = await waitFor('nothing sellable', async () => {
    const current = await dbs.unified.selectFrom('bookable_rooms').selectAll().execute();
    return current.length === 3 && current.every((row) => !row.sellable && row.sellable_availability === 0) ? current : undefined;
  }, { timeoutMs: settings.staleAfterSeconds * 4000 });
  for (const row of rows) assert.match(row.reason ?? '', /is stale since/);
  const report = formatHealthReport(await readPipelineCounts(dbs.unified), await readPipelineHealth(dbs.unified));
  assert.match(report, /NOTHING IS SELLABLE/);

  await pipeline.startConnector('legacy');
  await pipeline.startConnector('cloud');
  await waitFor('sellable again', async () => {
    const current = await dbs.unified.selectFrom('bookable_rooms').selectAll().execute();
    return current.every((row) => row.sellable) ? current : undefined;
  }, { timeoutMs: 30_000 });
  await waitFor('incidents resolved', async () => {
    const open = await dbs.unified.selectFrom('alerts').selectAll().where('resolved_at', 'is', null).execute();
    return open.length === 0;
  });
});

test('a source database unreachable for the connector pages for that source', async () => {
  const database = new URL(dbs.urls.cloud).pathname.slice(1);
  const pagesBefore = (await lagAlertsFor('cloud')).length;
  await dbs.unifiedPool.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
  await dbs.unifiedPool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
  try {
    const alerts = await waitFor('cloud page', async () => {
      const rows = await lagAlertsFor('cloud');
      return rows.length > pagesBefore && rows.at(-1)?.severity === 'page' ? rows : undefined;
    }, { timeoutMs: pageWithinMs * 4 });
    assert.match(alerts.at(-1)?.message ?? '', /cloud CDC lag/);
    // The monitor cannot read the source either: a page of its own, apart from the lag's.
    const unreadable = await waitFor('cloud unreadable page', async () => {
      const rows = (await alertsFor('cloud')).filter((row) => row.subject === 'monitor' && row.severity === 'page' && row.resolved_at === null);
      return rows.length === 1 ? rows[0] : undefined;
    }, { timeoutMs: pageWithinMs * 4 });
    assert.match(unreadable?.incident_key ?? '', /^room-sync\/monitor\/source-unreadable\/cloud\//);
    assert.match(unreadable?.message ?? '', /cannot read the cloud database/);
    await waitFor('PagerDuty trigger for the unreadable source', async () =>
      receiver.on('/pagerduty').find((event) => event.body['dedup_key'] === 'room-sync/monitor/source-unreadable/cloud' && event.body['event_action'] === 'trigger'),
    );
    const legacyOpen = await dbs.unified.selectFrom('alerts').selectAll().where('source', '=', 'legacy').where('resolved_at', 'is', null).execute();
    assert.deepEqual(legacyOpen, []);
  } finally {
    await dbs.unifiedPool.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
  }
  await waitFor('cloud recovers', async () => {
    const rows = await alertsFor('cloud');
    return rows.every((row) => row.resolved_at !== null) ? rows : undefined;
  }, { timeoutMs: 60_000 });
  const health = await readPipelineHealth(dbs.unified);
  assert.deepEqual(health.sources.map((source) => source.alert), ['ok', 'ok']);
  assert.ok((await sql<{ ok: number }>`SELECT 1 AS ok`.execute(dbs.unified)).rows.length === 1);
  await waitFor('PagerDuty resolve for the unreadable source', async () =>
    receiver.on('/pagerduty').find((event) => event.body['dedup_key'] === 'room-sync/monitor/source-unreadable/cloud' && event.body['event_action'] === 'resolve'),
  );
});

test('a check that fails (a table of the unified database unreadable) pages for the monitor itself, and resolves once checks work', async () => {
  const checksFailing = (action: string) =>
    receiver.on('/pagerduty').find((event) => event.body['dedup_key'] === 'room-sync/monitor/checks-failing' && event.body['event_action'] === action);
  // checkSources reads dead_letters; nothing else does while nothing fails.
  await dbs.unifiedPool.query('ALTER TABLE dead_letters RENAME TO dead_letters_hidden');
  const failingSince = Date.now();
  try {
    const trigger = await waitFor('PagerDuty trigger for failing checks', async () => checksFailing('trigger'), { timeoutMs: pageWithinMs * 6 });
    assert.ok(trigger.at - failingSince >= settings.thresholds.pageSeconds * 1000, 'no page before the paging threshold');
    assert.match(String((trigger.body['payload'] as Record<string, unknown>)['summary']), /cannot check the pipeline.*dead_letters/);
    // The workflow pages first and records after (a failing check most likely means the unified database is down).
    const row = await waitFor('the monitor incident recorded as a page', async () => {
      const [open] = await dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'monitor').where('source', 'is', null).where('resolved_at', 'is', null).execute();
      return open?.severity === 'page' ? open : undefined;
    });
    assert.equal(row.severity, 'page');
    assert.match(row?.incident_key ?? '', /^room-sync\/monitor\/checks-failing\//);
    assert.match(await (await fetch(metricsUrl)).text(), /^room_sync_monitor_check_failures_total [1-9]/m);
  } finally {
    await dbs.unifiedPool.query('ALTER TABLE dead_letters_hidden RENAME TO dead_letters');
  }
  await waitFor('PagerDuty resolve for failing checks', async () => checksFailing('resolve'), { timeoutMs: 30_000 });
  await waitFor('monitor incident resolved', async () => {
    const open = await dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'monitor').where('resolved_at', 'is', null).execute();
    return open.length === 0;
  });
  const lastCheck = /^room_sync_monitor_last_check_timestamp_seconds (\S+)$/m.exec(await (await fetch(metricsUrl)).text());
  assert.ok(lastCheck?.[1] !== undefined && Math.abs(Number(lastCheck[1]) - Date.now() / 1000) < 10, 'the monitor refreshes its check timestamp again');
  // Lag stayed fine throughout: no lag page.
  assert.deepEqual((await dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'lag').where('resolved_at', 'is', null).execute()), []);
});

test('room and monitor workflow histories replay deterministically with the current code', async () => {
  const rooms = [{ hotelCode: 'AMS001', roomCode: '1' }, { hotelCode: 'AMS001', roomCode: '3' }];
  for (const workflowId of new Set([...rooms.map((room) => roomWorkflowId(room)), monitorWorkflowId])) {
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    assert.ok((history.events?.length ?? 0) > 5, `${workflowId} has a history`);
    await replayWorkflowHistory(history, workflowId, await workflowBundle());
  }
});
