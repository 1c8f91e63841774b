// Runs the real Temporal CLI dev server (not the SDK's test server) so local
// runs and tests exercise the same server binary users run. The CLI is built
// from source with `go install` once and cached under <root>/.tools/bin.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';

import { goInstall, isExecutable } from './go-install.js';
import { devServerSearchAttributeArgs } from './search-attributes.js';

export type Log = (msg: string) => void;

export const temporalCliVersion = 'v1.5.1';
// Older releases are fallbacks in case the newest no longer builds with the local Go.
export const temporalCliVersions: readonly string[] = ['v1.5.1', 'v1.4.1', 'v1.3.0'];

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface TemporalServerHandle {
  stop: () => Promise<void>;
  pid: number | undefined;
  /** Resolves once the process has exited, however it ended: how (exit code or signal). */
  exited: Promise<string>;
}

export function temporalCliPath(projectRoot: string): string {
  return join(projectRoot, '.tools', 'bin', 'temporal');
}

/**
 * Built binaries kept once per machine (outside any clone), so a fresh clone of the project
 * copies the CLI instead of building it again; ROOM_SYNC_TOOLS_CACHE overrides the folder.
 */
export function machineToolsCache(env: NodeJS.ProcessEnv = process.env): string {
  return env['ROOM_SYNC_TOOLS_CACHE'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'room-sync', 'bin');
}

export async function ensureTemporalCli(projectRoot: string, log: Log): Promise<string> {
  const cliPath = temporalCliPath(projectRoot);
  if (await isExecutable(cliPath)) return cliPath;
  await mkdir(dirname(cliPath), { recursive: true });
  for (const version of temporalCliVersions) {
    const cached = join(machineToolsCache(), `temporal-${version}`);
    if (await isExecutable(cached)) {
      await copyFile(cached, cliPath);
      await chmod(cliPath, 0o755);
      log(`Temporal CLI ${version} copied from this machine's build (${cached})`);
      return cliPath;
    }
  }
  let lastError = '';
  for (const version of temporalCliVersions) {
    log(`building Temporal CLI ${version} (first time only, takes a few minutes)...`);
    const result = await goInstall(dirname(cliPath), `github.com/temporalio/cli/cmd/temporal@${version}`, `Temporal CLI ${version}`, log);
    if (result.ok && (await isExecutable(cliPath))) {
      log(`built Temporal CLI ${version} at ${cliPath}`);
      await keepForThisMachine(cliPath, `temporal-${version}`, log);
      return cliPath;
    }
    lastError = result.output || `go install exited without producing ${cliPath}`;
    const last = version === temporalCliVersions.at(-1);
    log(`building Temporal CLI ${version} failed; ${last ? 'giving up' : 'trying an older version'}`);
  }
  throw new Error(`Could not build the Temporal CLI with go install. Last error output:\n${lastError}`);
}

export async function isTemporalReachable(address: string): Promise<boolean> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

export async function startTemporalDevServer(opts: {
  cliPath: string;
  dataDir: string;
  address: string;
  /** The Web UI's port; none when null. */
  uiPort: number | null;
  namespace: string;
  /** More namespaces registered at start (with the search attributes), e.g. one per test suite. */
  extraNamespaces?: readonly string[];
  log: Log;
  /** More `start-dev` flags (the bench adds `--metrics-port`). */
  extraArgs?: readonly string[];
}): Promise<TemporalServerHandle> {
  const { host, port } = parseAddress(opts.address);
  await mkdir(opts.dataDir, { recursive: true });
  const logPath = join(opts.dataDir, 'temporal.log');
  const args = [
    'server', 'start-dev',
    '--db-filename', join(opts.dataDir, 'temporal.sqlite'),
    '--ip', host,
    '--port', String(port),
    ...(opts.uiPort === null ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    // WAL + NORMAL: far fewer fsyncs; the dev store is disposable anyway.
    '--sqlite-pragma', 'journal_mode=WAL',
    '--sqlite-pragma', 'synchronous=NORMAL',
    // The server uses one SQLite connection for everything: keep its pages in memory.
    '--sqlite-pragma', 'cache_size=-65536',
    '--sqlite-pragma', 'temp_store=MEMORY',
    '--sqlite-pragma', 'mmap_size=268435456',
    // room-sync's search attributes are registered at start, so the store need not be re-read on every query.
    ...devServerSearchAttributeArgs(),
    '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=false',
    // Room workflows' recent events stay cached, so handing out tasks needs no history read.
    '--dynamic-config-value', 'history.eventsCacheMaxSizeBytes=67108864',
    // One partition per task queue: with few pollers, tasks backlogged in a partition nobody polls are only
    // forwarded at matching.forwarderMaxRatePerSecond (10/s), which starved the first tasks of new room workflows.
    '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1',
    '--log-level', 'warn',
    ...(opts.extraArgs ?? []),
  ];
  // "default" always exists; only extra namespaces need registering.
  for (const namespace of new Set([opts.namespace, ...(opts.extraNamespaces ?? [])])) {
    if (namespace !== 'default') args.push('--namespace', namespace);
  }

  // The log is appended across runs; on failure we show only this run's part.
  const logStart = (await stat(logPath).catch(() => undefined))?.size ?? 0;
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.cliPath, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  const exited = new Promise<string>((resolve) => {
    const how = () => (child.signalCode !== null ? `signal ${child.signalCode}` : `exit code ${child.exitCode ?? '?'}`);
    if (child.exitCode !== null || child.signalCode !== null) resolve(how());
    else child.once('exit', () => resolve(how()));
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  opts.log(`starting Temporal dev server on ${host}:${port} (${opts.uiPort === null ? 'no UI' : `UI :${opts.uiPort}`}, log ${logPath})`);
  try {
    await waitUntilReady(opts.address, opts.namespace, () => {
      if (spawnError) return `could not spawn ${opts.cliPath}: ${spawnError.message}`;
      if (child.exitCode !== null || child.signalCode !== null) {
        return `exited with ${child.exitCode ?? child.signalCode}`;
      }
      return undefined;
    });
  } catch (e) {
    await stop();
    const log = await readFile(logPath).catch(() => Buffer.alloc(0));
    const tail = log.subarray(logStart).toString('utf8').slice(-2_000);
    throw new Error(
      `Temporal dev server did not become ready: ${e instanceof Error ? e.message : String(e)}` +
        `\n--- ${logPath} (tail) ---\n${tail}`,
    );
  }
  opts.log(`Temporal dev server ready at ${host}:${port} (pid ${child.pid ?? '?'})`);
  return { stop, pid: child.pid, exited };
}

export async function ensureTemporalServer(opts: {
  projectRoot: string;
  address: string;
  namespace: string;
  /** TLS or an API key is configured: the server is someone else's, and no dev server can stand in for it. */
  secured?: boolean;
  log: Log;
}): Promise<{ started: boolean; stop(): Promise<void> }> {
  // Someone else's server (or one we started earlier): use it, never stop it.
  if (await isTemporalReachable(opts.address)) {
    return { started: false, stop: async () => undefined };
  }
  if (opts.secured === true) {
    throw new Error(
      `no Temporal server answers on ${opts.address}, and TLS or an API key is configured for it (TEMPORAL_TLS*, TEMPORAL_API_KEY or a Temporal profile): ` +
        'room-sync starts a local dev server only for a plain local address; check TEMPORAL_ADDRESS and that the server is up',
    );
  }
  const cliPath = await ensureTemporalCli(opts.projectRoot, opts.log);
  const serverOptions = {
    cliPath,
    dataDir: join(opts.projectRoot, '.data', 'temporal'),
    address: opts.address,
    uiPort: 8233,
    namespace: opts.namespace,
    log: opts.log,
  };
  try {
    const server = await startTemporalDevServer(serverOptions);
    return { started: true, stop: superviseDevServer(server, () => startTemporalDevServer(serverOptions), opts.log) };
  } catch (e) {
    // A concurrent caller may have won the race for the port; its server is fine to use.
    if (await isTemporalReachable(opts.address)) {
      return { started: false, stop: async () => undefined };
    }
    throw e;
  }
}

const RESTART_BACKOFF_MS = 2_000;

/**
 * A dev server we started is ours to keep up: when it exits unexpectedly (a crash, a
 * kill -9) it is started again on the same SQLite file and ports, so the worker and
 * connectors, which reconnect by themselves, carry on. Returns the stop function.
 */
export function superviseDevServer(first: TemporalServerHandle, restart: () => Promise<TemporalServerHandle>, log: Log): () => Promise<void> {
  let current = first;
  let stopping = false;
  // A restart in progress: stop() waits for it, or the server it brings up would outlive stop().
  let restarting: Promise<void> = Promise.resolve();
  const startAgain = async (how: string): Promise<void> => {
    while (!stopping) {
      log(`Temporal dev server exited unexpectedly (${how}); starting it again on the same data and ports`);
      try {
        current = await restart();
        if (stopping) await current.stop();
        else watch(current);
        return;
      } catch (e) {
        log(`restarting the Temporal dev server failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
        await sleep(RESTART_BACKOFF_MS);
      }
    }
  };
  const watch = (server: TemporalServerHandle): void => {
    void server.exited.then((how) => {
      restarting = startAgain(how);
    });
  };
  watch(first);
  return async () => {
    stopping = true;
    await restarting;
    await current.stop();
  };
}

// ---------------------------------------------------------------- helpers

// The port opens before namespaces are loaded, so we also wait for describeNamespace.
async function waitUntilReady(
  address: string,
  namespace: string,
  died: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'frontend port not open';
  while (Date.now() < deadline) {
    const why = died();
    if (why !== undefined) throw new Error(why);
    if (await isTemporalReachable(address)) {
      try {
        const conn = await Connection.connect({ address, connectTimeout: '2s' });
        try {
          await conn.workflowService.describeNamespace({ namespace });
          return;
        } finally {
          await conn.close();
        }
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
    }
    await sleep(250);
  }
  throw new Error(`not ready within ${READY_TIMEOUT_MS / 1000}s (${last})`);
}

/** Copies a built binary into the machine's cache; a cache that cannot be written only costs the next clone a build. */
async function keepForThisMachine(binary: string, name: string, log: Log): Promise<void> {
  const target = join(machineToolsCache(), name);
  try {
    await mkdir(dirname(target), { recursive: true });
    await copyFile(binary, `${target}.partial`);
    await rename(`${target}.partial`, target);
  } catch (error) {
    log(`could not keep ${name} in ${dirname(target)} for other clones: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new Error(`Invalid Temporal address "${address}" (expected host:port)`);
  }
  return { host: m[1] === '' ? '127.0.0.1' : m[1], port: Number(m[2]) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
