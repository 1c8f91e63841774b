// Makes the local PostgreSQL usable by room-sync: running, configured for
// logical replication (CDC needs it), and with the databases we need.
// Shell commands go through execFile with argument arrays: no shell, no quoting bugs.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

export type Log = (msg: string) => void;

const execFileAsync = promisify(execFile);

// Tests create many replication slots (one per source per test database).
const MIN_REPLICATION_SLOTS = 32;
const MIN_WAL_SENDERS = 32;
const READY_TIMEOUT_MS = 30_000;

interface Target {
  host: string;
  port: number;
  local: boolean;
}

interface Cluster {
  version: string;
  name: string;
  port: number;
  status: string;
}

export function adminUrlFor(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return url.toString();
}

export async function ensurePostgresRunning(adminUrl: string, log: Log): Promise<void> {
  const target = targetOf(adminUrl);
  const err = await tryConnect(adminUrl);
  if (err === undefined) return;
  const where = `${target.host}:${target.port}`;
  if (!isRefused(err)) {
    throw new Error(`Cannot connect to PostgreSQL at ${where}: ${err.message}`);
  }
  if (!target.local || !(await hasCommand('pg_ctlcluster'))) {
    throw new Error(
      `PostgreSQL is not running at ${where} (connection refused). Start it and retry.`,
    );
  }
  // Prefer the cluster pg_lsclusters says owns this port; the usual 15/main only if it can't tell.
  const clusters = await listClusters();
  const cluster = clusters === undefined
    ? { version: '15', name: 'main' }
    : clusters.find((c) => c.port === target.port);
  if (cluster === undefined) {
    throw new Error(
      `PostgreSQL is not running at ${where} (connection refused), and no local cluster ` +
        `is configured on port ${target.port} (see pg_lsclusters).`,
    );
  }
  log(`PostgreSQL at ${where} is down; starting cluster ${cluster.version}/${cluster.name}...`);
  await pgCtlCluster(cluster.version, cluster.name, 'start');
  await waitUntilAnswers(adminUrl, where);
  log(`PostgreSQL cluster ${cluster.version}/${cluster.name} started.`);
}

export async function ensureLogicalReplication(adminUrl: string, log: Log): Promise<void> {
  const target = targetOf(adminUrl);
  const where = `${target.host}:${target.port}`;
  const before = await readReplicationSettings(adminUrl);
  const missing = unmetSettings(before);
  if (missing.length === 0) return;

  const cluster = target.local && (await hasCommand('pg_ctlcluster'))
    ? (await listClusters())?.find((c) => c.port === target.port)
    : undefined;
  const advice =
    `PostgreSQL at ${where} has wal_level=${before.walLevel}, ` +
    `max_replication_slots=${before.maxSlots}, max_wal_senders=${before.maxSenders}; ` +
    `room-sync needs wal_level=logical (and max_replication_slots>=${MIN_REPLICATION_SLOTS}, ` +
    `max_wal_senders>=${MIN_WAL_SENDERS}). Set them in postgresql.conf or with ALTER SYSTEM, ` +
    `then restart the server.`;
  if (cluster === undefined) throw new Error(advice);

  // Only a restart applies these settings, and we only restart a server we manage.
  await withClient(adminUrl, async (c) => {
    for (const [name, value] of missing) {
      await c.query(`ALTER SYSTEM SET ${name} = ${value}`);
    }
  }).catch((e: unknown) => {
    throw new Error(`${advice} (automatic ALTER SYSTEM failed: ${errorMessage(e)})`);
  });
  log(
    `Set ${missing.map(([n, v]) => `${n}=${v}`).join(', ')} via ALTER SYSTEM; ` +
      `restarting PostgreSQL cluster ${cluster.version}/${cluster.name}...`,
  );
  await pgCtlCluster(cluster.version, cluster.name, 'restart');
  await waitUntilAnswers(adminUrl, where);

  const after = await readReplicationSettings(adminUrl);
  if (unmetSettings(after).length > 0) {
    throw new Error(`Restarted PostgreSQL but settings are still not applied. ${advice}`);
  }
  log(
    `PostgreSQL at ${where} now has wal_level=${after.walLevel}, ` +
      `max_replication_slots=${after.maxSlots}, max_wal_senders=${after.maxSenders}.`,
  );
}

export async function ensureDatabase(
  adminUrl: string,
  databaseUrl: string,
  log: Log,
): Promise<boolean> {
  const name = databaseNameOf(databaseUrl);
  return withClient(adminUrl, async (c) => {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount !== null && found.rowCount > 0) return false;
    try {
      await c.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (e) {
      // Another process may have created it between our check and CREATE.
      const code = pgErrorCode(e);
      if (code === '42P04' || code === '23505') return false;
      throw e;
    }
    log(`Created database ${name}.`);
    return true;
  });
}

export async function dropDatabase(adminUrl: string, databaseName: string): Promise<void> {
  await withClient(adminUrl, async (c) => {
    // Slots pin WAL forever and block DROP DATABASE, so remove them first.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const slots = await c.query<{ slot_name: string; active_pid: number | null }>(
        'SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1',
        [databaseName],
      );
      if (slots.rows.length === 0) break;
      let pending = false;
      for (const slot of slots.rows) {
        if (slot.active_pid !== null) {
          await c.query('SELECT pg_terminate_backend($1)', [slot.active_pid]);
        }
        try {
          await c.query('SELECT pg_drop_replication_slot($1)', [slot.slot_name]);
        } catch (e) {
          // 55006: still active (walsender not gone yet); 42704: already dropped.
          const code = pgErrorCode(e);
          if (code === '55006' && Date.now() < deadline) pending = true;
          else if (code !== '42704') throw e;
        }
      }
      if (pending) await sleep(200);
    }
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(databaseName)} WITH (FORCE)`);
  });
}

/**
 * Drops databases a killed test run left behind (with their slots, which would
 * otherwise pin WAL and use up max_replication_slots). Test suites name theirs with
 * this prefix and drop them on success.
 */
/** Drops the prefix's databases that nobody is connected to: another test run on this server keeps its own. */
export async function dropDatabasesWithPrefix(adminUrl: string, prefix: string): Promise<string[]> {
  const names = await withClient(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT d.datname FROM pg_database d
        WHERE starts_with(d.datname, $1)
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname AND a.pid <> pg_backend_pid())`,
      [prefix],
    );
    return rows.map((row) => row.datname);
  });
  for (const name of names) await dropDatabase(adminUrl, name);
  return names;
}

// ---------------------------------------------------------------- helpers

interface ReplicationSettings {
  walLevel: string;
  maxSlots: number;
  maxSenders: number;
}

async function readReplicationSettings(url: string): Promise<ReplicationSettings> {
  return withClient(url, async (c) => {
    const show = async (name: string): Promise<string> => {
      const r = await c.query<Record<string, string>>(`SHOW ${name}`);
      return r.rows[0]?.[name] ?? '';
    };
    return {
      walLevel: await show('wal_level'),
      maxSlots: Number(await show('max_replication_slots')),
      maxSenders: Number(await show('max_wal_senders')),
    };
  });
}

// Only settings that fall short; we never lower a value someone raised on purpose.
function unmetSettings(s: ReplicationSettings): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (s.walLevel !== 'logical') out.push(['wal_level', 'logical']);
  if (!(s.maxSlots >= MIN_REPLICATION_SLOTS)) {
    out.push(['max_replication_slots', String(MIN_REPLICATION_SLOTS)]);
  }
  if (!(s.maxSenders >= MIN_WAL_SENDERS)) out.push(['max_wal_senders', String(MIN_WAL_SENDERS)]);
  return out;
}

function targetOf(url: string): Target {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '') || 'localhost';
  const port = u.port === '' ? 5432 : Number(u.port);
  return { host, port, local: ['127.0.0.1', 'localhost', '::1'].includes(host) };
}

function databaseNameOf(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (name === '') throw new Error(`Database URL has no database name: ${redact(databaseUrl)}`);
  return name;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function tryConnect(url: string): Promise<Error | undefined> {
  try {
    await withClient(url, async (c) => c.query('SELECT 1'));
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

async function waitUntilAnswers(url: string, where: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    last = await tryConnect(url);
    if (last === undefined) return;
    await sleep(500);
  }
  throw new Error(
    `PostgreSQL at ${where} did not answer within ${READY_TIMEOUT_MS / 1000}s: ${last?.message ?? ''}`,
  );
}

// Node 20 may report a multi-address (localhost → ::1 + 127.0.0.1) failure as AggregateError.
function isRefused(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT') return true;
  const inner = (e as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0 && inner.every(isRefused);
}

function pgErrorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function hasCommand(cmd: string): Promise<boolean> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this dir
    }
  }
  return false;
}

// pg_lsclusters columns: Ver Cluster Port Status Owner Datadir Logfile.
// undefined means "can't tell" (command missing or failing), [] means "none".
async function listClusters(): Promise<Cluster[] | undefined> {
  try {
    const { stdout } = await execFileAsync('pg_lsclusters', ['--no-header']);
    const clusters: Cluster[] = [];
    for (const line of stdout.split('\n')) {
      const [version, name, port, status] = line.trim().split(/\s+/);
      if (version && name && port && status) {
        clusters.push({ version, name, port: Number(port), status });
      }
    }
    return clusters;
  } catch {
    return undefined;
  }
}

async function pgCtlCluster(version: string, name: string, action: 'start' | 'restart'): Promise<void> {
  try {
    // --skip-systemctl-redirect: act directly; there may be no systemd (containers).
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, action], {
      timeout: 60_000,
    });
  } catch (e) {
    const out = e as { stderr?: unknown; stdout?: unknown };
    const detail = [out.stderr, out.stdout].filter((s) => typeof s === 'string' && s !== '').join('\n');
    throw new Error(
      `pg_ctlcluster ${version} ${name} ${action} failed: ${detail || errorMessage(e)}`,
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
