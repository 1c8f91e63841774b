import { z } from 'zod';
import { describeUrl, registerSecrets, scrubString } from '../observability/redact.js';
import { defaultWorkerV8Flags, isV8Flag, parseWorkerV8Flags } from '../workers/heap-settings.js';
import { loadTemporalProfile, TemporalProfileError, type TemporalConnectionSettings, type TemporalProfile } from '../temporal/connection-settings.js';

/** Where a value came from when it is not set: the contract's local defaults. */
export const localDefaults = {
  LEGACY_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/legacy_inventory',
  CLOUD_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/cloud_inventory',
  UNIFIED_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unified_inventory',
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_TASK_QUEUE: 'room-sync',
  TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
  POLICY_FILE: 'policies/default.yaml',
} as const;

const postgresUrl = z
  .string()
  .url()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must start with postgres:// or postgresql://');

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233');

/** An http(s) URL; the message shows only scheme and host, since webhook URLs often carry a token. */
const httpUrl = z.string().superRefine((value, context) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    context.addIssue({ code: 'custom', message: 'is not a URL (expected http://… or https://…)' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    context.addIssue({ code: 'custom', message: `must be an http:// or https:// URL, not ${url.protocol}// (${describeUrl(value)})` });
  } else if (url.hostname === '') {
    context.addIssue({ code: 'custom', message: 'has no host' });
  }
});

const urlList = z
  .string()
  .default('')
  .transform((value) => value.split(',').map((url) => url.trim()).filter((url) => url !== ''))
  .pipe(z.array(httpUrl));

const seconds = z.coerce.number().positive();

/** Rooms a connector keeps waiting on Temporal unless CONNECTOR_MAX_ROOMS_AWAITING_APPLY says otherwise. */
export const defaultMaxRoomsAwaitingApply = 256;

export const envSchema = z
  .object({
  LEGACY_DATABASE_URL: postgresUrl.default(localDefaults.LEGACY_DATABASE_URL),
  CLOUD_DATABASE_URL: postgresUrl.default(localDefaults.CLOUD_DATABASE_URL),
  UNIFIED_DATABASE_URL: postgresUrl.default(localDefaults.UNIFIED_DATABASE_URL),
  TEMPORAL_ADDRESS: hostPort.default(localDefaults.TEMPORAL_ADDRESS),
  TEMPORAL_NAMESPACE: z.string().min(1).default(localDefaults.TEMPORAL_NAMESPACE),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(localDefaults.TEMPORAL_TASK_QUEUE),
  TEMPORAL_UI_URL: z.string().url().default(localDefaults.TEMPORAL_UI_URL),
  POLICY_FILE: z.string().min(1).default(localDefaults.POLICY_FILE),
  /** Earlier releases let rooms share workflows; every room now has its own. Only `per-room` is still accepted. */
  ROOM_WORKFLOW_ROUTING: z.literal('per-room', { message: 'is no longer a setting: every room has a workflow of its own (unset it, or set per-room)' }).optional(),
  /** Bound on deliveries in flight per connector (one per workflow at most): workflows take them concurrently, the merge restores order. */
  CONNECTOR_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Most changes one delivery carries; what is left waits for the next delivery to the same workflow. */
  CONNECTOR_MAX_BATCH_CHANGES: z.coerce.number().int().min(1).max(5_000).default(500),
  /** How a connector hands changes to a room's workflow: signal-with-start (the design), or update-with-start (measured in docs/capacity.md). */
  CONNECTOR_DELIVERY: z.enum(['signal', 'update']).default('signal'),
  /** Least time between two deliveries to one workflow: what arrives meanwhile goes in one delivery. */
  CONNECTOR_SEND_INTERVAL_MS: z.coerce.number().int().min(0).max(10_000).default(200),
  /**
   * Rooms per connector whose delivery Temporal took and no apply has taken yet, at most: each is
   * a workflow task waiting for a worker. Past saturation the rest wait in the connector (riding
   * together, the lag paging) instead of queueing in Temporal past the sticky queue's timeout,
   * which makes rooms replay. Raise it with more workers; 0: no bound.
   */
  CONNECTOR_MAX_ROOMS_AWAITING_APPLY: z.coerce.number().int().min(0).max(1_000_000).default(defaultMaxRoomsAwaitingApply),
  /** Changes a connector holds unsent before it stops reading its stream (backpressure). */
  CONNECTOR_MAX_QUEUED_CHANGES: z.coerce.number().int().min(1).default(20_000),
  /** Heartbeat written into each source so an idle source is told apart from a dead pipeline. */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  STATUS_INTERVAL_MS: z.coerce.number().int().min(500).default(5_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** `pretty`: one readable line per event (the default); `json`: one JSON object per line (pino), for log shippers. */
  LOG_FORMAT: z.enum(['pretty', 'json']).default('pretty'),
  /** Lag alerting: lag = now − commit time of the newest change acked from that source. */
  LAG_WARN_SECONDS: seconds.default(30),
  LAG_PAGE_SECONDS: seconds.default(60),
  LAG_CHECK_INTERVAL_SECONDS: seconds.default(5),
  /** Hysteresis: an incident resolves once lag < warn × ratio for this many checks in a row. */
  LAG_CLEAR_RATIO: z.coerce.number().gt(0).max(1).default(0.5),
  LAG_CLEAR_CHECKS: z.coerce.number().int().min(1).default(2),
  /**
   * Catch-up grace after downtime (an outage already over), in seconds; 0 turns it off. A source
   * whose connector is catching up (connected and reading, but not yet at the WAL position current
   * when it connected; an idle source until its first heartbeat since returns) is a warning, not a
   * page, for at most this long from its connection, unless its lag grows by LAG_PAGE_SECONDS
   * meanwhile (connected, yet no progress). Without word from the connector, a lag over the paging
   * threshold falling fast enough to be under it within the grace is held the same way. A source
   * still unreachable pages as without a grace. Default 120: several heartbeats and checks, and
   * a snapshot of a few hundred thousand rows.
   */
  LAG_CATCHUP_GRACE_SECONDS: z.coerce.number().min(0).max(3_600).default(120),
  /** The booking engine stops selling a room when the source owning its availability is older than this. */
  STALE_AFTER_SECONDS: seconds.default(120),
  /** A freshness row the monitor has not refreshed for this long vouches for nothing. */
  MONITOR_SILENCE_SECONDS: seconds.default(30),
  /** Generic JSON webhooks for every alert event, comma separated (http or https). */
  ALERT_WEBHOOK_URLS: urlList,
  /** A PagerDuty Events v2 compatible endpoint (trigger/resolve, dedup key per source incident; http or https). */
  PAGERDUTY_EVENTS_URL: httpUrl.optional(),
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /** Prometheus metrics on the worker; 0 turns the endpoint off. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  /** Where the metrics endpoint listens: this machine only unless set (0.0.0.0 for a Prometheus elsewhere). */
  METRICS_HOST: z.string().trim().min(1).regex(/^[^\s/]+$/, 'must be a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0').default('127.0.0.1'),
  /** Workflows the worker keeps in memory (about 0.25 MiB each); the rest replay their history on their next delivery. */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).default(2_000),
  /** V8 heap flags the worker sets before its workflow threads start (src/workers/heap-settings.ts); `off` for V8's defaults. */
  WORKER_V8_FLAGS: z
    .string()
    .default(defaultWorkerV8Flags.join(' '))
    .transform(parseWorkerV8Flags)
    .refine((flags) => flags.every(isV8Flag), 'must be V8 flags separated by spaces (e.g. "--heap-growing-percent=25 --max-semi-space-size=2") or off'),
  /** Years archived audit months stay in the database (detached, schema audit_archive) before `audit archive` drops them. */
  AUDIT_RETENTION_YEARS: z.coerce.number().int().min(1).max(100).default(7),
  /**
   * When the scheduled reconcile of both sources runs: a cron expression (UTC, five fields), or `off`.
   * Daily at 03:30 by default; the monitor worker keeps the Temporal Schedule at this setting.
   */
  RECONCILE_SCHEDULE: z
    .string()
    .trim()
    .regex(/^(off|(\S+\s+){4}\S+)$/, 'must be a cron expression of five fields (e.g. "30 3 * * *") or off')
    .default('30 3 * * *'),
})
  .superRefine((config, context) => {
    if (config.LAG_PAGE_SECONDS <= config.LAG_WARN_SECONDS) {
      context.addIssue({ code: 'custom', path: ['LAG_PAGE_SECONDS'], message: `must be greater than LAG_WARN_SECONDS (${config.LAG_WARN_SECONDS})` });
    }
    if (config.PAGERDUTY_EVENTS_URL !== undefined && config.PAGERDUTY_ROUTING_KEY === undefined) {
      context.addIssue({ code: 'custom', path: ['PAGERDUTY_ROUTING_KEY'], message: 'is required when PAGERDUTY_EVENTS_URL is set' });
    }
    if (config.MONITOR_SILENCE_SECONDS < config.LAG_CHECK_INTERVAL_SECONDS * 2) {
      context.addIssue({
        code: 'custom',
        path: ['MONITOR_SILENCE_SECONDS'],
        message: `must be at least twice LAG_CHECK_INTERVAL_SECONDS (${config.LAG_CHECK_INTERVAL_SECONDS})`,
      });
    }
  });

export type AppConfig = z.infer<typeof envSchema> & {
  /** TLS, API key and gRPC headers for every Temporal connection (src/temporal/connection-settings.ts). */
  readonly temporalConnection: TemporalConnectionSettings;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Variables whose value is a secret, or may carry one (webhook URLs with a token in the path or query). */
const secretVariables = new Set(['PAGERDUTY_ROUTING_KEY', 'TEMPORAL_API_KEY']);
const urlVariables = new Set(['ALERT_WEBHOOK_URLS', 'PAGERDUTY_EVENTS_URL']);

/** What an error message may show of a variable's value: never a key, a token or a password. */
function shownValue(variable: string, value: string): string {
  if (value === '') return '';
  if (secretVariables.has(variable)) return '[redacted]';
  if (urlVariables.has(variable)) {
    return value
      .split(',')
      .map((part) => part.trim())
      .map((part) => (URL.canParse(part) ? describeUrl(part) : `[not a URL, ${part.length} characters]`))
      .join(',');
  }
  return scrubString(value);
}

/**
 * The values of a configuration that must never reach a log line, an error or a Temporal
 * payload, each with what to show instead: the routing key, every webhook URL whole (its
 * token may be in the path), and every database password.
 */
export function configSecrets(config: AppConfig): { value: string; replacement: string }[] {
  const secrets: { value: string; replacement: string }[] = [];
  if (config.PAGERDUTY_ROUTING_KEY !== undefined) secrets.push({ value: config.PAGERDUTY_ROUTING_KEY, replacement: '[redacted routing key]' });
  if (config.temporalConnection.apiKey !== undefined) secrets.push({ value: config.temporalConnection.apiKey, replacement: '[redacted Temporal API key]' });
  // A header may carry a token (authorization); none of their values is shown.
  for (const [name, value] of Object.entries(config.temporalConnection.metadata ?? {})) {
    if (value.length >= 4) secrets.push({ value, replacement: `[redacted ${name} header]` });
  }
  for (const url of [...config.ALERT_WEBHOOK_URLS, ...(config.PAGERDUTY_EVENTS_URL === undefined ? [] : [config.PAGERDUTY_EVENTS_URL])]) {
    const shown = describeUrl(url);
    if (shown !== url) secrets.push({ value: url, replacement: shown });
  }
  for (const url of [config.LEGACY_DATABASE_URL, config.CLOUD_DATABASE_URL, config.UNIFIED_DATABASE_URL]) {
    const { password } = new URL(url);
    if (password === '') continue;
    secrets.push({ value: password, replacement: '***' });
    const decoded = decodeURIComponent(password);
    if (decoded !== password) secrets.push({ value: decoded, replacement: '***' });
  }
  return secrets;
}

/**
 * Parses the environment once at start-up; the message names every bad variable (showing
 * no secret of it). The secrets of a valid configuration are handed to the log redaction.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  let temporal: TemporalProfile;
  try {
    temporal = loadTemporalProfile(env);
  } catch (error) {
    if (error instanceof TemporalProfileError) throw new ConfigError(`invalid configuration:\n  ${error.message}`);
    throw error;
  }
  // A Temporal profile's address and namespace count where the variables are not set.
  const input: NodeJS.ProcessEnv = {
    ...env,
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS ?? temporal.address,
    TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE ?? temporal.namespace,
  };
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '');
      const entry = typeof issue.path[1] === 'number' ? ` (entry ${issue.path[1] + 1})` : '';
      return `  ${variable}=${JSON.stringify(shownValue(variable, input[variable] ?? ''))}${entry}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  const config: AppConfig = { ...parsed.data, temporalConnection: temporal.connection };
  registerSecrets(configSecrets(config));
  return config;
}

/** True when the URL points at this machine's default server, where the demo may seed and set-up may manage Postgres. */
export function isLocalServer(databaseUrl: string): boolean {
  const host = new URL(databaseUrl).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}
