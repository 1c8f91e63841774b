import { z } from 'zod';

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

const urlList = z
  .string()
  .default('')
  .transform((value) => value.split(',').map((url) => url.trim()).filter((url) => url !== ''))
  .pipe(z.array(z.string().url()));

const seconds = z.coerce.number().positive();

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
  /** Changes a connector holds unsent before it stops reading its stream (backpressure). */
  CONNECTOR_MAX_QUEUED_CHANGES: z.coerce.number().int().min(1).default(20_000),
  /** Heartbeat written into each source so an idle source is told apart from a dead pipeline. */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  STATUS_INTERVAL_MS: z.coerce.number().int().min(500).default(5_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** Lag alerting: lag = now − commit time of the newest change acked from that source. */
  LAG_WARN_SECONDS: seconds.default(30),
  LAG_PAGE_SECONDS: seconds.default(60),
  LAG_CHECK_INTERVAL_SECONDS: seconds.default(5),
  /** Hysteresis: an incident resolves once lag < warn × ratio for this many checks in a row. */
  LAG_CLEAR_RATIO: z.coerce.number().gt(0).max(1).default(0.5),
  LAG_CLEAR_CHECKS: z.coerce.number().int().min(1).default(2),
  /** The booking engine stops selling a room when the source owning its availability is older than this. */
  STALE_AFTER_SECONDS: seconds.default(120),
  /** A freshness row the monitor has not refreshed for this long vouches for nothing. */
  MONITOR_SILENCE_SECONDS: seconds.default(30),
  /** Generic JSON webhooks for every alert event, comma separated. */
  ALERT_WEBHOOK_URLS: urlList,
  /** A PagerDuty Events v2 compatible endpoint (trigger/resolve, dedup key per source incident). */
  PAGERDUTY_EVENTS_URL: z.string().url().optional(),
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /** Prometheus metrics on the worker; 0 turns the endpoint off. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  /** Workflows the worker keeps in memory (about 0.25 MiB each); the rest replay their history on their next delivery. */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).default(2_000),
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

export type AppConfig = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment once at start-up; the message names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const variable = issue.path.join('.');
      return `  ${variable}=${JSON.stringify(env[variable] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

/** True when the URL points at this machine's default server, where the demo may seed and set-up may manage Postgres. */
export function isLocalServer(databaseUrl: string): boolean {
  const host = new URL(databaseUrl).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}
