import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { addLogSink, createLogger, setLogFormat, setLogLevel } from '../../src/observability/logger.js';
import { startMetricsServer } from '../../src/observability/metrics-server.js';
import { temporalSdkLogger } from '../../src/observability/temporal-logger.js';
import { clearRegisteredSecrets, scrubString } from '../../src/observability/redact.js';

const dbPassword = 'hunter2-db-secret';
const routingKey = 'R0UT1NGKEY0123456789abcdef';
const pathToken = 'T000/B000/XXXXslacktoken1234';
const queryToken = 'qtok-5f1e2d3c4b5a';

const secrets = [dbPassword, routingKey, pathToken, queryToken, encodeURIComponent('p@ss/word!')];

function captured(format: 'pretty' | 'json', write: () => void): string[] {
  const lines: string[] = [];
  setLogFormat(format);
  setLogLevel('debug');
  const remove = addLogSink((line) => lines.push(line));
  try {
    write();
  } finally {
    remove();
    setLogFormat('pretty');
    setLogLevel('info');
  }
  return lines;
}

/** Everything a careless caller might log: URLs with passwords, keys under telling and untelling names, errors. */
function logSecrets(): void {
  const log = createLogger('room-sync').child('monitor');
  const url = `postgres://room_sync:${dbPassword}@db.internal:5432/unified_inventory`;
  log.info(`connecting to ${url}`, { url, database: { connectionString: url, password: dbPassword } });
  log.warn('pager', { routingKey, routing_key: routingKey, nested: { deeper: { routingKey } }, payload: { routing_key: routingKey } });
  log.error('delivery failed', {
    error: new Error(`POST https://hooks.example.com/services/${pathToken} failed`, { cause: new Error(`connect to postgresql://u:${dbPassword}@h/db refused`) }),
    webhook: `https://alerts.example.com/hook?token=${queryToken}&channel=ops`,
    detail: `routing key was ${routingKey}`,
    encoded: `postgres://u:${encodeURIComponent('p@ss/word!')}@h/db`,
    dsn: `host=db user=room_sync password=${dbPassword} dbname=unified`,
  });
  log.debug('list', { urls: [`https://hooks.example.com/services/${pathToken}`, `https://x.example.com/?api_key=${queryToken}`] });
}

// The configuration registers what it knows to be secret: the routing key, each webhook URL, each database password.
loadConfig({
  UNIFIED_DATABASE_URL: `postgres://room_sync:${dbPassword}@db.internal:5432/unified_inventory`,
  ALERT_WEBHOOK_URLS: `https://hooks.example.com/services/${pathToken}`,
  PAGERDUTY_EVENTS_URL: 'https://events.pagerduty.com/v2/enqueue',
  PAGERDUTY_ROUTING_KEY: routingKey,
});
after(() => clearRegisteredSecrets());

for (const format of ['pretty', 'json'] as const) {
  test(`${format} logs carry no secret: database passwords, the routing key, webhook tokens`, () => {
    const lines = captured(format, logSecrets);
    assert.equal(lines.length, 4);
    const output = lines.join('\n');
    for (const secret of secrets) assert.ok(!output.includes(secret), `${format} output shows ${secret}:\n${output}`);
    // What is left is still useful to a person.
    assert.match(output, /postgres:\/\/room_sync:\*\*\*@db\.internal:5432\/unified_inventory/);
    assert.match(output, /https:\/\/hooks\.example\.com\/…/);
    assert.match(output, /token=\*\*\*/);
  });
}

test('LOG_FORMAT=json: one JSON object per line with level, time, logger name, message and fields', () => {
  const lines = captured('json', () => {
    const log = createLogger('room-sync').child('connector').child('legacy');
    log.info('streaming', { slot: 'room_sync_legacy', lagSeconds: 1.5, level: 'a field named like a key pino writes' });
    log.error('failed', { error: new Error('boom', { cause: new Error('root cause') }) });
  });
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(first?.['level'], 'info');
  assert.equal(first?.['logger'], 'room-sync.connector.legacy');
  assert.equal(first?.['msg'], 'streaming');
  assert.equal(first?.['slot'], 'room_sync_legacy');
  assert.equal(first?.['lagSeconds'], 1.5);
  assert.equal(first?.['level_'], 'a field named like a key pino writes');
  assert.ok(!Number.isNaN(Date.parse(String(first?.['time']))));
  assert.equal(second?.['level'], 'error');
  assert.equal(second?.['error'], 'boom (cause: root cause)');
  for (const line of lines) assert.ok(!line.includes('\n'));
});

test('the readable form stays the default', () => {
  const lines: string[] = [];
  const remove = addLogSink((line) => lines.push(line));
  try {
    createLogger('room-sync').info('hello', { rooms: 3, note: 'two words' });
  } finally {
    remove();
  }
  assert.match(lines[0] ?? '', /^\d{4}-\d\d-\d\dT\S+Z INFO {2}room-sync: hello rooms=3 note="two words"$/);
});

test('a string scrubber for any field: URL passwords, libpq passwords, secret query parameters', () => {
  assert.equal(scrubString('postgres://a:b@h/d and postgresql://:x@h'), 'postgres://a:***@h/d and postgresql://:***@h');
  assert.equal(scrubString("host=h password='two words' user=u"), 'host=h password=*** user=u');
  assert.equal(scrubString('https://h/x?a=1&token=abc&sig=def#f'), 'https://h/x?a=1&token=***&sig=***#f');
  assert.equal(scrubString('https://h/plain/path?a=1'), 'https://h/plain/path?a=1');
});

test('configuration errors name the variable without showing a secret', () => {
  const problems = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail('expected a ConfigError');
  };
  const ftp = problems({ ALERT_WEBHOOK_URLS: `https://ok.example.com/hook,ftp://files.example.com/drop?token=${queryToken}` });
  assert.match(ftp, /ALERT_WEBHOOK_URLS=.*\(entry 2\): must be an http:\/\/ or https:\/\/ URL, not ftp:\/\//);
  assert.ok(!ftp.includes(queryToken), ftp);
  const pd = problems({ PAGERDUTY_EVENTS_URL: 'mailto:ops@example.com', PAGERDUTY_ROUTING_KEY: routingKey });
  assert.match(pd, /PAGERDUTY_EVENTS_URL=.*must be an http:\/\/ or https:\/\/ URL, not mailto:/);
  assert.ok(!pd.includes(routingKey));
  const notUrl = problems({ PAGERDUTY_EVENTS_URL: `events.pagerduty.com/${pathToken}` });
  assert.match(notUrl, /PAGERDUTY_EVENTS_URL="\[not a URL, \d+ characters\]": is not a URL/);
  assert.ok(!notUrl.includes(pathToken));
  const db = problems({ LEGACY_DATABASE_URL: `mysql://u:${dbPassword}@h/db` });
  assert.match(db, /LEGACY_DATABASE_URL="mysql:\/\/u:\*\*\*@h\/db": must start with postgres/);
});

test('settings: METRICS_HOST is this machine unless set; the catch-up grace defaults to 120 s', async () => {
  const config = loadConfig({});
  assert.equal(config.METRICS_HOST, '127.0.0.1');
  assert.equal(config.LAG_CATCHUP_GRACE_SECONDS, 120);
  assert.equal(config.LOG_FORMAT, 'pretty');
  assert.equal(loadConfig({ METRICS_HOST: '0.0.0.0', LOG_FORMAT: 'json', LAG_CATCHUP_GRACE_SECONDS: '0' }).METRICS_HOST, '0.0.0.0');
  assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), /LOG_FORMAT/);
  assert.throws(() => loadConfig({ METRICS_HOST: 'http://0.0.0.0/' }), /METRICS_HOST/);
  const server = await startMetricsServer(new Registry(), 0);
  try {
    assert.equal((server.address() as AddressInfo).address, '127.0.0.1');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("the Temporal SDK's own lines go through our logger: one JSON object per line, below the minimum dropped, secrets redacted", () => {
  const sdk = temporalSdkLogger(createLogger('temporal'), 'WARN');
  const lines = captured('json', () => {
    sdk.info('Worker state changed', { state: 'RUNNING' });
    sdk.debug('poll', {});
    sdk.warn(`Failed to connect to postgres://room_sync:${dbPassword}@db.internal/unified_inventory`, { sdkComponent: 'worker' });
    sdk.log('ERROR', 'Activity failed', { routingKey });
  });
  assert.equal(lines.length, 2, lines.join('\n'));
  const [warn, error] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(warn?.['logger'], 'temporal');
  assert.equal(warn?.['level'], 'warn');
  assert.equal(warn?.['sdkComponent'], 'worker');
  assert.equal(error?.['level'], 'error');
  assert.equal(error?.['msg'], 'Activity failed');
  for (const secret of secrets) assert.ok(!lines.join('\n').includes(secret), `a line carries ${secret}`);
});
