// "Nobody let in": secrets (database passwords in URLs, the PagerDuty routing key, webhook
// URLs with a token) never reach a log line, the status output, an error, or a Temporal
// payload. The pipeline runs as `room-sync` processes would in production (worker, both
// connectors, the monitor), with LOG_FORMAT=json; the test drives it through the paths that
// say the most (a source refusing connections, alerts delivered and failing, a command
// that cannot reach its database), keeps every line every process wrote, then greps them,
// `room-sync status`, the alert tables and every workflow history in the namespace.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { roomSyncNodeArgs } from '../../scripts/room-sync-entry.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import type { Policy } from '../../src/policy/schema.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { waitForConvergence } from '../support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';
import { roomKey } from '../support/reference.js';

// Distinctive, so a match can only be a leak. Trust auth accepts any password.
const password = 'S3cret-pw-XYZ';
const routingKey = `rk-Secret-${randomBytes(6).toString('hex')}`;
const webhookToken = `tok-Secret-${randomBytes(6).toString('hex')}`;
const failingToken = `tok-Failing-${randomBytes(6).toString('hex')}`;
const secrets = [password, routingKey, webhookToken, failingToken];

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
const receiver = new AlertReceiver();
const taskQueue = `room-sync-secrets-${randomBytes(4).toString('hex')}`;

/** Every line a process wrote, stdout and stderr alike, tagged with who wrote it. */
const lines: { readonly from: string; readonly text: string }[] = [];
const running: ChildProcess[] = [];
let passed = false;

function withPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.password = password;
  return url.toString();
}

let pipelineEnv: NodeJS.ProcessEnv = {};

interface Finished {
  readonly code: number | null;
  readonly output: string;
}

/** `room-sync <args>` as a process of its own; its output lines are kept. */
function roomSync(name: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, roomSyncNodeArgs(args, process.env), {
    cwd: projectRoot,
    env: { ...pipelineEnv, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  const keep = (stream: NodeJS.ReadableStream | null, tag: string) => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      output += chunk;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) lines.push({ from: `${name} ${tag}`, text });
    });
    stream?.on('end', () => {
      if (partial !== '') lines.push({ from: `${name} ${tag}`, text: partial });
    });
  };
  keep(child.stdout, 'stdout');
  keep(child.stderr, 'stderr');
  const done = new Promise<Finished>((resolve) => child.on('close', (code) => resolve({ code, output })));
  return { child, done };
}

async function stop(child: ChildProcess, done: Promise<Finished>): Promise<Finished> {
  if (child.exitCode === null) child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

before(async () => {
  await receiver.start();
  env = await startTestTemporal();
  dbs = await createTestDatabases('secrets');
  policy = await defaultPolicy();
  await insertLegacyProperty(dbs.legacy, 'SEC001', 'L', 'EUR');
  await insertLegacyRoom(dbs.legacy, 'SEC001', '1', { rm_typ_cd: 'DBL', rate_amt: 10000, allot_qty: 3, stat_cd: 'A' });
  const propertyId = await insertCloudProperty(dbs.cloud, 'SEC001');
  await insertCloudRoom(dbs.cloud, propertyId, '1', { room_type: 'double', nightly_rate: '105.00', currency: 'EUR', available_count: 4, is_active: true });
  await insertCloudRoom(dbs.cloud, propertyId, '2', { room_type: 'suite', nightly_rate: '250.00', currency: 'EUR', available_count: 1, is_active: true });
  pipelineEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    LEGACY_DATABASE_URL: withPassword(dbs.urls.legacy),
    CLOUD_DATABASE_URL: withPassword(dbs.urls.cloud),
    UNIFIED_DATABASE_URL: withPassword(dbs.urls.unified),
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'debug',
    METRICS_PORT: '0',
    HEARTBEAT_INTERVAL_MS: '250',
    LAG_WARN_SECONDS: '2',
    LAG_PAGE_SECONDS: '4',
    LAG_CHECK_INTERVAL_SECONDS: '0.5',
    LAG_CATCHUP_GRACE_SECONDS: '0',
    MONITOR_SILENCE_SECONDS: '5',
    STALE_AFTER_SECONDS: '30',
    ALERT_WEBHOOK_URLS: `${receiver.url(`/webhook?token=${webhookToken}`)},${receiver.url(`/fail?token=${failingToken}`)}`,
    PAGERDUTY_EVENTS_URL: receiver.url('/pagerduty'),
    PAGERDUTY_ROUTING_KEY: routingKey,
  };
});

after(async () => {
  if (!passed && lines.length > 0) {
    // For the reader of a failure: everything the processes printed.
    const capturePath = join(tmpdir(), `room-sync-secrets-${taskQueue}.log`);
    await writeFile(capturePath, lines.map((line) => `[${line.from}] ${line.text}`).join('\n'));
    console.log(`secrets.test: every captured line is in ${capturePath}`);
  }
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await dbs?.drop();
  await env?.teardown();
  await receiver.stop();
});

/** Payload bytes (JSON-encoded arguments, results, signals, memos, search attributes) as text, so a grep sees them. */
function decodePayloads(value: unknown): unknown {
  // Before JSON.stringify: it would turn a Buffer into a list of numbers first.
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decodePayloads);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, decodePayloads(field)]));
  return value;
}

function historyText(value: unknown): string {
  return JSON.stringify(decodePayloads(value));
}

function leaksIn(where: string, texts: Iterable<string>): string[] {
  const found: string[] = [];
  for (const text of texts) {
    for (const secret of secrets) if (text.includes(secret)) found.push(`${where}: ${text.slice(0, 400)}`);
  }
  return found;
}

test('no secret in any log line, status output, error, alert record or workflow history of a whole run', { timeout: 420_000 }, async () => {
  const worker = roomSync('worker', ['worker']);
  const connectors = (['legacy', 'cloud'] as const).map((source) => ({ source, ...roomSync(`connector ${source}`, ['connector', '--source', source]) }));
  const monitor = await roomSync('monitor', ['monitor']).done;
  assert.equal(monitor.code, 0, monitor.output);
  await waitForConvergence(dbs, policy.policyVersion, { timeoutMs: 180_000, description: 'the first rooms applied' });

  // A source refusing connections: connector errors, the monitor cannot read it, alerts go out (one channel failing).
  const cloudDatabase = new URL(dbs.urls.cloud).pathname.slice(1);
  await dbs.unifiedPool.query(`ALTER DATABASE "${cloudDatabase}" ALLOW_CONNECTIONS false`);
  await dbs.unifiedPool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [cloudDatabase]);
  let statusWhilePaging: Finished | null = null;
  try {
    await waitFor('a PagerDuty trigger for the cloud source', async () => receiver.on('/pagerduty').find((event) => event.body['event_action'] === 'trigger'), {
      timeoutMs: 90_000,
    });
    await waitFor('a failed delivery recorded', async () =>
      (await dbs.unified.selectFrom('alert_deliveries').select('id').where('ok', '=', false).executeTakeFirst()) ?? undefined,
    { timeoutMs: 90_000 });
    statusWhilePaging = await roomSync('status (paging)', ['status']).done;
    // A connector started while its source refuses connections: it fails (or keeps retrying) and says why.
    const late = roomSync('connector cloud (refused)', ['connector', '--source', 'cloud']);
    const lateTimer = setTimeout(() => late.child.kill('SIGINT'), 20_000);
    await late.done;
    clearTimeout(lateTimer);
    // A command whose database cannot be reached at all: its error names the connection.
    const unreachable = new URL(withPassword(dbs.urls.unified));
    unreachable.port = '1';
    const refused = await roomSync('status (unreachable)', ['status'], { UNIFIED_DATABASE_URL: unreachable.toString() }).done;
    assert.notEqual(refused.code, 0, 'status fails without its database');
    const missing = new URL(withPassword(dbs.urls.unified));
    missing.pathname = `/no_such_db_${randomUUID().slice(0, 8)}`;
    const noDatabase = await roomSync('status (no database)', ['status'], { UNIFIED_DATABASE_URL: missing.toString() }).done;
    assert.notEqual(noDatabase.code, 0, 'status fails on a missing database');
  } finally {
    await dbs.unifiedPool.query(`ALTER DATABASE "${cloudDatabase}" ALLOW_CONNECTIONS true`);
  }
  assert.ok(statusWhilePaging !== null);
  assert.equal(statusWhilePaging.code, 3, statusWhilePaging.output);

  // Back: a change written now arrives, and every incident resolves.
  await insertLegacyRoom(dbs.legacy, 'SEC001', '3', { rm_typ_cd: 'TWN', rate_amt: 9000, allot_qty: 2, stat_cd: 'A' });
  await waitForConvergence(dbs, policy.policyVersion, { knownKeys: [roomKey('SEC001', '3')], timeoutMs: 180_000, description: 'the pipeline caught up' });
  await waitFor('every incident resolved', async () =>
    (await dbs.unified.selectFrom('alerts').select('id').where('resolved_at', 'is', null).execute()).length === 0,
  { timeoutMs: 120_000 });
  const statusAfter = await roomSync('status', ['status']).done;
  assert.equal(statusAfter.code, 0, statusAfter.output);

  for (const { child, done } of connectors) await stop(child, done);
  await stop(worker.child, worker.done);

  // The secrets were in use: each reached the one place it is meant for.
  assert.ok(receiver.received.some((event) => event.url.includes(webhookToken)), 'the webhook was called with its token');
  assert.ok(receiver.on('/pagerduty').every((event) => event.body['routing_key'] === routingKey), 'PagerDuty got its routing key');
  assert.ok(receiver.received.some((event) => event.path === '/webhook' && event.body['type'] === 'room-sync.lag.page'), 'the webhook heard the page');

  // What was captured is the whole run: JSON log lines from every process, errors included.
  const logLines = lines.filter((line) => line.text.trim().startsWith('{'));
  for (const name of ['worker', 'connector legacy', 'connector cloud']) {
    assert.ok(logLines.some((line) => line.from.startsWith(name)), `${name} wrote JSON log lines`);
  }
  // Logs people can ship: under LOG_FORMAT=json every line the long-running processes wrote is one JSON object (the SDK's own lines too).
  const notJson = lines.filter((line) => /^(worker|connector)/.test(line.from) && line.text.trim() !== '' && !line.text.trim().startsWith('{'));
  assert.deepEqual(notJson.map((line) => `[${line.from}] ${line.text}`), [], 'lines that are not JSON');
  const parsed = logLines.map((line) => JSON.parse(line.text) as Record<string, unknown>);
  assert.ok(parsed.some((entry) => String(entry['logger']).startsWith('room-sync.connector.cloud') && entry['level'] === 'warn'), 'the cloud connector logged its connection errors');
  assert.ok(parsed.some((entry) => typeof entry['msg'] === 'string' && /PAGE/.test(entry['msg'])), 'the monitor logged the page');
  const statusError = lines.find((line) => line.from.startsWith('status (unreachable)') && line.text.trim().startsWith('{'));
  assert.match(statusError?.text ?? '', /"level":"error".*"exitCode":1.*ECONNREFUSED/, 'the failing command printed its error as a JSON line');

  const leaks = leaksIn('log', lines.map((line) => `[${line.from}] ${line.text}`));

  // Status output (kept with the lines above, checked again on its own so a leak there is named).
  for (const [name, finished] of [['status (paging)', statusWhilePaging], ['status', statusAfter]] as const) leaks.push(...leaksIn(name, [finished.output]));

  // What operators read back: alert messages and delivery errors.
  const alerts = await dbs.unified.selectFrom('alerts').selectAll().execute();
  const deliveries = await dbs.unified.selectFrom('alert_deliveries').selectAll().execute();
  assert.ok(deliveries.some((row) => !row.ok && row.error !== null), 'a failed delivery kept its error');
  leaks.push(...leaksIn('alerts', alerts.map((row) => JSON.stringify(row))), ...leaksIn('alert_deliveries', deliveries.map((row) => JSON.stringify(row))));

  // Every workflow history of the namespace: rooms, the monitor, its alert outboxes.
  let histories = 0;
  let payloadsRead = false;
  for await (const execution of env.client.workflow.list()) {
    const text = historyText(await env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory());
    histories += 1;
    // Legacy room SEC001/1's rate, as its signal carries it: the payloads were read as text.
    payloadsRead ||= /rateMinor\W+10000\b/.test(text);
    leaks.push(...leaksIn(`history ${execution.workflowId}`, [text]));
  }
  assert.ok(payloadsRead, 'history payloads decoded');
  assert.ok(histories >= 5, `${histories} workflow histories`);
  console.log(`secrets.test: ${lines.length} output lines (${logLines.length} JSON log lines), ${histories} workflow histories, ${alerts.length} alerts, ${deliveries.length} deliveries checked`);
  assert.deepEqual(leaks, [], `secrets leaked:\n${leaks.join('\n')}`);
  passed = true;
});
