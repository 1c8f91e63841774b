// The lag monitor workflow on a real Temporal dev server, with scripted checks: what it does
// when its check fails, when a source cannot be read, while a channel keeps failing across
// its continue-as-new, and after downtime while the connectors catch up. The deliveries are
// the real activities (HTTP to a local receiver); the unified database is unreachable
// throughout, so recording every alert fails, and the pages must go out anyway.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createMonitoringActivities, type MonitorReadings, type SourceReading } from '../../src/activities/monitoring.js';
import { createPool, createUnifiedDb } from '../../src/db/connect.js';
import type { SourceName } from '../../src/domain/room.js';
import type { AlertChannel } from '../../src/monitoring/channels.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { replayWorkflowHistory } from '../../src/workers/worker.js';
import { lagMonitorWorkflow } from '../../src/workflows/lag-monitor.js';
import { alertOutboxStateQuery, alertOutboxWorkflowId, monitorStateQuery, type MonitorSettings } from '../../src/workflows/messages.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { startTestTemporal, waitFor, workflowBundle } from '../support/environment.js';

const taskQueue = `lag-monitor-workflow-${randomBytes(4).toString('hex')}`;
const baseSettings: Omit<MonitorSettings, 'channelNames'> = {
  thresholds: { warnSeconds: 2, pageSeconds: 4, clearRatio: 0.5, clearChecks: 2 },
  checkIntervalSeconds: 0.5,
  staleAfterSeconds: 6,
  validForSeconds: 3,
  catchupGraceSeconds: 120,
};
const checksPerRun = 6;

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const receiver = new AlertReceiver();
const metrics = createMetrics();
// Nothing listens on port 1: every database write of the alert path fails at once.
const unreachablePool = createPool('postgres://postgres@127.0.0.1:1/unreachable');

/** A channel that answers 500 until `healthyAt`, then 202: still retrying while the monitor carries on. */
class FlakyChannel {
  readonly received: { body: Record<string, unknown>; at: number }[] = [];
  failures = 0;
  healthyAt = Infinity;
  private server: Server | null = null;

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      request.on('end', () => {
        if (Date.now() < this.healthyAt) {
          this.failures += 1;
          response.writeHead(500).end('not yet');
          return;
        }
        this.received.push({ body: JSON.parse(raw) as Record<string, unknown>, at: Date.now() });
        response.writeHead(202).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/flaky`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
const flaky = new FlakyChannel();

// ---- scripted checks, per monitor workflow ----------------------------------------------

type Script = (call: number) => MonitorReadings | Error;
const scripts = new Map<string, Script>();
const calls = new Map<string, number>();

function reading(source: SourceName, lag: number, sourceError: string | null = null): SourceReading {
  return {
    source,
    lagSeconds: lag,
    unappliedChanges: 0,
    oldestUnappliedAgeSeconds: null,
    appliedLagSeconds: lag,
    lastChangeAgeSeconds: lag,
    backlogBytes: 0,
    slotRetainedBytes: 0,
    connected: sourceError === null,
    sourceError,
  };
}
const healthy = (): MonitorReadings => ({ sources: [reading('legacy', 0.5), reading('cloud', 0.5)], quarantinedRooms: [] });

before(async () => {
  await receiver.start();
  const flakyUrl = await flaky.start();
  env = await startTestTemporal();
  const channels: AlertChannel[] = [];
  for (const scenario of ['a', 'b', 'c', 'd']) {
    channels.push({ name: `${scenario}-pagerduty`, kind: 'pagerduty', url: receiver.url(`/${scenario}/pagerduty`), routingKey: 'test-routing-key' });
    channels.push({ name: `${scenario}-webhook`, kind: 'webhook', url: receiver.url(`/${scenario}/webhook`) });
  }
  channels.push({ name: 'a-flaky', kind: 'webhook', url: flakyUrl });
  const real = createMonitoringActivities({ db: createUnifiedDb(unreachablePool), sources: [], channels, log: createLogger('test.monitor-workflow'), metrics });
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      checkSources: async (): Promise<MonitorReadings> => {
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
        const call = calls.get(workflowId) ?? 0;
        calls.set(workflowId, call + 1);
        const result = scripts.get(workflowId)?.(call) ?? healthy();
        if (result instanceof Error) throw ApplicationFailure.create({ message: result.message, type: 'MonitorCheckFailed' });
        return result;
      },
      recordAlertEvent: real.recordAlertEvent,
      enqueueAlert: real.enqueueAlert,
      deliverAlert: real.deliverAlert,
    },
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await receiver.stop();
  await flaky.stop();
  await unreachablePool.end();
});

async function startMonitor(name: string, channelNames: readonly string[], script: Script): Promise<string> {
  const workflowId = `monitor-${name}-${randomBytes(3).toString('hex')}`;
  scripts.set(workflowId, script);
  await env.client.workflow.start(lagMonitorWorkflow, { workflowId, taskQueue, args: [{ settings: { ...baseSettings, channelNames }, checksPerRun }] });
  return workflowId;
}

const bodies = (path: string) => receiver.on(path).map((alert) => alert.body);

async function replayAll(workflowId: string): Promise<number> {
  // Every run of the monitor (it continued as new) replays against the current code.
  let runs = 0;
  for await (const execution of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await env.client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
    await replayWorkflowHistory(history, workflowId, await workflowBundle());
    runs += 1;
  }
  return runs;
}

test('a failing check pages for the monitor itself, while a channel that keeps failing holds up neither the checks nor the other channels', async () => {
  let failing = true;
  flaky.healthyAt = Infinity;
  const workflowId = await startMonitor('checks', ['a-pagerduty', 'a-webhook', 'a-flaky'], () => (failing ? new Error('connect ECONNREFUSED 127.0.0.1:5432') : healthy()));
  const handle = env.client.workflow.getHandle(workflowId);
  const { runId: firstRun } = await handle.describe();
  const startedAt = Date.now();

  const trigger = await waitFor('monitor page at PagerDuty', async () => bodies('/a/pagerduty').find((body) => body['event_action'] === 'trigger'), { timeoutMs: 30_000 });
  assert.equal(trigger['dedup_key'], 'room-sync/monitor/checks-failing');
  assert.equal(trigger['routing_key'], 'test-routing-key');
  const payload = trigger['payload'] as Record<string, unknown>;
  assert.equal(payload['severity'], 'critical');
  assert.match(String(payload['summary']), /cannot check the pipeline.*ECONNREFUSED/);
  assert.ok(Date.now() - startedAt >= baseSettings.thresholds.pageSeconds * 1000, 'not before the paging threshold');
  await waitFor('monitor page at the webhook', async () => bodies('/a/webhook').find((body) => body['type'] === 'room-sync.monitor.page'));
  assert.deepEqual(bodies('/a/webhook').map((body) => body['type']), ['room-sync.monitor.warn', 'room-sync.monitor.page']);

  // The flaky channel is still retrying its first event, and the monitor has carried on (and continued as new).
  const outbox = env.client.workflow.getHandle(alertOutboxWorkflowId(workflowId, 'a-flaky'));
  await waitFor('monitor continued as new while the flaky channel retries', async () => {
    const { runId } = await handle.describe();
    const state = await outbox.query(alertOutboxStateQuery);
    return runId !== firstRun && state.delivering !== null && flaky.received.length === 0 ? true : undefined;
  }, { timeoutMs: 20_000 });
  const before = await handle.query(monitorStateQuery);
  await waitFor('checks keep coming', async () => ((await handle.query(monitorStateQuery)).checks !== before.checks ? true : undefined), { timeoutMs: 5_000 });
  assert.ok(flaky.failures >= 1);

  failing = false;
  await waitFor('monitor resolve at PagerDuty', async () => bodies('/a/pagerduty').find((body) => body['event_action'] === 'resolve'), { timeoutMs: 20_000 });
  await waitFor('monitor resolve at the webhook', async () => bodies('/a/webhook').find((body) => body['type'] === 'room-sync.monitor.resolve'));
  assert.deepEqual(bodies('/a/pagerduty').map((body) => body['event_action']), ['trigger', 'resolve']);
  assert.deepEqual(bodies('/a/webhook').map((body) => body['type']), ['room-sync.monitor.warn', 'room-sync.monitor.page', 'room-sync.monitor.resolve']);
  const state = await handle.query(monitorStateQuery);
  assert.equal(state.health?.checks.level, 'ok');

  // Once the flaky channel answers, it gets every event, in order: nothing was lost to continue-as-new.
  flaky.healthyAt = Date.now();
  await waitFor('the flaky channel gets all three events', async () => (flaky.received.length >= 3 ? true : undefined), { timeoutMs: 60_000 });
  assert.deepEqual(flaky.received.map((event) => event.body['type']), ['room-sync.monitor.warn', 'room-sync.monitor.page', 'room-sync.monitor.resolve']);

  await handle.terminate('test done');
  assert.ok((await replayAll(workflowId)) > 1, 'more than one run replayed');
  const outboxHistory = await outbox.fetchHistory();
  await replayWorkflowHistory(outboxHistory, alertOutboxWorkflowId(workflowId, 'a-flaky'), await workflowBundle());
});

test('a source whose database cannot be read pages for that source, and resolves once it can', async () => {
  let unreadable = true;
  const workflowId = await startMonitor('source', ['b-pagerduty', 'b-webhook'], () => ({
    sources: [reading('legacy', 0.5), reading('cloud', 0.5, unreadable ? 'database "cloud_inventory" is not currently accepting connections' : null)],
    quarantinedRooms: [],
  }));
  const trigger = await waitFor('source page', async () => bodies('/b/pagerduty').find((body) => body['event_action'] === 'trigger'), { timeoutMs: 30_000 });
  assert.equal(trigger['dedup_key'], 'room-sync/monitor/source-unreadable/cloud');
  assert.match(String((trigger['payload'] as Record<string, unknown>)['summary']), /cannot read the cloud database/);
  unreadable = false;
  await waitFor('source resolve', async () => bodies('/b/pagerduty').find((body) => body['event_action'] === 'resolve'), { timeoutMs: 20_000 });
  // Each channel has its outbox: the webhook's resolve may land a moment after the pager's.
  await waitFor('webhook resolve', async () => bodies('/b/webhook').find((body) => body['type'] === 'room-sync.monitor.resolve'));
  // Nothing about lag, nothing about legacy.
  assert.deepEqual(bodies('/b/webhook').map((body) => [body['type'], body['source']]), [
    ['room-sync.monitor.warn', 'cloud'],
    ['room-sync.monitor.page', 'cloud'],
    ['room-sync.monitor.resolve', 'cloud'],
  ]);
  await env.client.workflow.getHandle(workflowId).terminate('test done');
  await replayAll(workflowId);
});

test('after downtime, a lag over the paging threshold that falls fast is a warning, not a page', async () => {
  // A monitor that starts with the pipeline: its first reading is 15 minutes of lag, then the connectors catch up.
  const lags = [900, 600, 300, 60, 5, 1];
  const workflowId = await startMonitor('catchup', ['c-pagerduty', 'c-webhook'], (call) => ({
    sources: [reading('legacy', lags[call] ?? 0.5), reading('cloud', 0.5)],
    quarantinedRooms: [],
  }));
  await waitFor('lag resolve', async () => bodies('/c/webhook').find((body) => body['type'] === 'room-sync.lag.resolve'), { timeoutMs: 30_000 });
  const webhook = bodies('/c/webhook');
  assert.deepEqual(webhook.map((body) => body['type']), ['room-sync.lag.warn', 'room-sync.lag.resolve']);
  assert.equal(webhook[0]?.['catching_up'], true);
  assert.match(String(webhook[0]?.['message']), /falling fast/);
  assert.deepEqual(bodies('/c/pagerduty'), [], 'PagerDuty hears nothing of an outage already over');
  await env.client.workflow.getHandle(workflowId).terminate('test done');
  await replayAll(workflowId);
});

test('after downtime, a lag that does not fall pages as before', async () => {
  const workflowId = await startMonitor('stuck', ['d-pagerduty', 'd-webhook'], (call) => ({
    sources: [reading('legacy', 900 + call * 0.5), reading('cloud', 0.5)],
    quarantinedRooms: [],
  }));
  const trigger = await waitFor('lag page', async () => bodies('/d/pagerduty').find((body) => body['event_action'] === 'trigger'), { timeoutMs: 30_000 });
  assert.equal(trigger['dedup_key'], 'room-sync/lag/legacy');
  await waitFor('webhook page', async () => bodies('/d/webhook').find((body) => body['type'] === 'room-sync.lag.page'));
  assert.deepEqual(bodies('/d/webhook').map((body) => body['type']), ['room-sync.lag.warn', 'room-sync.lag.page']);
  await env.client.workflow.getHandle(workflowId).terminate('test done');
  await replayAll(workflowId);
});
