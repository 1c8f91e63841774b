// `room-sync cluster start|stop|status`: a real Temporal cluster on this machine, each
// service a process of its own (frontend, matching, the internal worker service and two
// history hosts sharing 16 shards), persistence on the configured Postgres, and the
// Temporal UI server pointed at its frontend.
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { ensureSearchAttributes } from '../setup/search-attributes.js';
import type { Log } from '../setup/go-install.js';
import { clusterBinaryPaths, ensureClusterBinaries, ensureUiServer, postgresSchemaDirs, temporalServerModuleDir, uiServerPath } from './binaries.js';
import { allocateLayout, clusterProcessNames, frontendAddress, readLayout, serviceOf, uiUrl, writeLayout, type ClusterLayout, type ClusterProcessName, type LayoutRequest } from './layout.js';
import { ensureClusterSchemas } from './persistence.js';
import { killProcess, logTail, processFiles, runningPid, startDetached, stopProcess } from './processes.js';
import { writeServerConfigs, writeUiServerConfig } from './server-config.js';
import { clusterCertificates, clusterClientTls, clusterTlsEnvironment, ensureClusterCertificates } from './certificates.js';
import type { TLSConfig } from '@temporalio/client';

export type ClusterMember = ClusterProcessName | 'ui';

export interface ClusterOptions extends Omit<LayoutRequest, 'host'> {
  readonly projectRoot: string;
  readonly dataDir: string;
  readonly host?: string;
  /** Build and run the Temporal UI server too. */
  readonly ui: boolean;
  readonly readyTimeoutMs?: number;
  readonly log: Log;
}

const defaultReadyTimeoutMs = 180_000;
const stopGraceMs = 20_000;
/** Days a closed workflow's history is kept in the namespace registered here. */
const retentionDays = 3;

/** gRPC status NOT_FOUND (the client's own grpc-js is not a dependency of ours). */
const grpcNotFound = 5;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function commandOf(projectRoot: string, member: ClusterMember): string {
  return member === 'ui' ? uiServerPath(projectRoot) : clusterBinaryPaths(projectRoot).server;
}

function argsOf(member: ClusterMember): string[] {
  if (member === 'ui') return ['--root', '.', '--config', 'ui-config', '--env', 'ui', 'start'];
  // The env name picks <config>/<name>.yaml; no authorizer on this local cluster, and it says so.
  return ['--root', '.', '--config', 'config', '--env', member, '--allow-no-auth', 'start', '--service', serviceOf(member)];
}

function portsOf(layout: ClusterLayout, member: ClusterMember): number[] {
  if (member === 'ui') return [layout.uiPort];
  const ports = layout.processes[member];
  return [ports.grpc, ports.membership, ...(ports.http === undefined ? [] : [ports.http])];
}

/** The port that tells a member is up: the internal worker service serves no gRPC, only its membership port. */
export function readinessPort(layout: ClusterLayout, member: ClusterMember): number {
  if (member === 'ui') return layout.uiPort;
  return member === 'worker' ? layout.processes.worker.membership : layout.processes[member].grpc;
}

export function isPortOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Starts one member (again): its config is already written. The fault suite restarts a killed host with it. */
export async function startMember(projectRoot: string, dataDir: string, layout: ClusterLayout, member: ClusterMember): Promise<number> {
  const command = commandOf(projectRoot, member);
  const running = await runningPid(dataDir, member, command);
  if (running !== null) return running;
  for (const port of member === 'ui' ? [layout.uiPort] : [layout.processes[member].grpc]) {
    // A port held by something else would make the server exit at once with a bind error: say so plainly.
    if (await isPortOpen(layout.host, port)) throw new Error(`cannot start ${member}: port ${port} is in use by another process`);
  }
  return startDetached(dataDir, member, command, argsOf(member));
}

/** kill -9 of one member (the fault suite); returns the pid killed, or null when it was not running. */
export function killMember(projectRoot: string, dataDir: string, member: ClusterMember): Promise<number | null> {
  return killProcess(dataDir, member, commandOf(projectRoot, member));
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === grpcNotFound;
}

/** The namespace, registered where missing (a fresh cluster has none but the system one). */
async function ensureNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`) });
  return true;
}

/**
 * Until every member listens, the frontend answers, the namespace and room-sync's search
 * attributes are registered (through the frontend, as on any cluster) and a workflow
 * can be started and ended there (history and matching serve).
 */
async function waitUntilServing(dataDir: string, layout: ClusterLayout, members: readonly ClusterMember[], projectRoot: string, timeoutMs: number, log: Log): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not started';
  let lastReport = Date.now();
  const address = frontendAddress(layout);
  const tls = await clusterConnectionTls(layout, dataDir);
  const ready = async (): Promise<boolean> => {
    for (const member of members) {
      if ((await runningPid(dataDir, member, commandOf(projectRoot, member))) === null) {
        throw new Error(`${member} exited during start (log ${processFiles(dataDir, member).log}):\n${await logTail(dataDir, member)}`);
      }
      const port = readinessPort(layout, member);
      if (!(await isPortOpen(layout.host, port))) {
        last = `${member} not listening on ${port} yet`;
        return false;
      }
    }
    const connection = await Connection.connect({ address, connectTimeout: '3s', ...tls });
    try {
      if (await ensureNamespace(connection, layout.namespace)) log(`registered namespace ${layout.namespace} (retention ${retentionDays} days)`);
      const registered = await ensureSearchAttributes(connection, layout.namespace);
      if (registered.length > 0) log(`registered search attributes ${registered.join(', ')} in ${layout.namespace}`);
      await probeWorkflow(connection, layout.namespace);
      return true;
    } finally {
      await connection.close();
    }
  };
  for (;;) {
    try {
      if (await ready()) return;
    } catch (error) {
      if (error instanceof Error && error.message.includes('exited during start')) throw error;
      last = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
    }
    if (Date.now() > deadline) throw new Error(`the cluster did not become ready within ${timeoutMs / 1000}s (${last}); logs in ${dataDir}`);
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      log(`  ... waiting for the cluster (${last})`);
    }
    await sleep(500);
  }
}

async function waitUntilListening(dataDir: string, layout: ClusterLayout, member: ClusterMember, projectRoot: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const port = readinessPort(layout, member);
  while (!(await isPortOpen(layout.host, port))) {
    if ((await runningPid(dataDir, member, commandOf(projectRoot, member))) === null) {
      throw new Error(`${member} exited during start (log ${processFiles(dataDir, member).log}):\n${await logTail(dataDir, member)}`);
    }
    if (Date.now() > deadline) throw new Error(`${member} not listening on ${port} within ${timeoutMs / 1000}s; log ${processFiles(dataDir, member).log}`);
    await sleep(250);
  }
}

/** Starts and terminates a workflow nobody runs: the namespace is in every host's cache and history takes writes. */
async function probeWorkflow(connection: Connection, namespace: string): Promise<void> {
  const workflowId = `room-sync-cluster-probe-${process.pid}-${Date.now()}`;
  const { runId } = await connection.workflowService.startWorkflowExecution({
    namespace,
    workflowId,
    workflowType: { name: 'room-sync-cluster-probe' },
    taskQueue: { name: 'room-sync-cluster-probe' },
    requestId: workflowId,
    identity: 'room-sync cluster start',
  });
  await connection.workflowService.terminateWorkflowExecution({ namespace, workflowExecution: { workflowId, runId }, reason: 'readiness probe', identity: 'room-sync cluster start' });
}

/** The TLS a client of this cluster connects with (none unless started with --tls). */
export async function clusterConnectionTls(layout: ClusterLayout, dataDir: string): Promise<{ tls?: TLSConfig }> {
  return layout.tls ? { tls: await clusterClientTls(clusterCertificates(dataDir)) } : {};
}

export interface StartedCluster {
  readonly layout: ClusterLayout;
  readonly address: string;
  readonly uiUrl: string | null;
  readonly started: readonly ClusterMember[];
  /** What points room-sync at it: TEMPORAL_ADDRESS, TEMPORAL_UI_URL, and the TLS variables when it serves TLS. */
  readonly environment: Readonly<Record<string, string>>;
}

/** Idempotent: the members already running are left alone, the others started; the layout of a previous start is kept. */
export async function startCluster(options: ClusterOptions): Promise<StartedCluster> {
  const { projectRoot, dataDir, log } = options;
  await mkdir(dataDir, { recursive: true });
  const binaries = await ensureClusterBinaries(projectRoot, log);
  const uiServer = options.ui ? await ensureUiServer(projectRoot, log) : null;
  let layout = await readLayout(dataDir);
  if (layout === null) {
    layout = await allocateLayout({ ...options, host: options.host ?? '127.0.0.1' });
    await writeLayout(dataDir, layout);
  }
  if (options.tls !== undefined && options.tls !== layout.tls) {
    throw new Error(`the cluster in ${dataDir} was set up ${layout.tls ? 'with' : 'without'} --tls; start it the same way, or stop it and remove the folder to change`);
  }
  if (layout.tls) await ensureClusterCertificates(dataDir, log);
  const moduleDir = await temporalServerModuleDir();
  await ensureClusterSchemas(binaries.sqlTool, layout, postgresSchemaDirs(moduleDir), log);
  await writeServerConfigs(layout, clusterProcessNames, dataDir);
  const members: ClusterMember[] = [...clusterProcessNames, ...(uiServer === null ? [] : ['ui' as const])];
  if (uiServer !== null) await writeUiServerConfig(layout, dataDir);
  const started: ClusterMember[] = [];
  for (const member of members) {
    if ((await runningPid(dataDir, member, commandOf(projectRoot, member))) !== null) continue;
    const pid = await startMember(projectRoot, dataDir, layout, member);
    started.push(member);
    log(`started ${member} (pid ${pid}, ports ${portsOf(layout, member).join('/')}, log ${processFiles(dataDir, member).log})`);
    // The first process of a fresh cluster writes its cluster metadata; several at once race for it and all but one exit.
    if (started.length === 1) await waitUntilListening(dataDir, layout, member, projectRoot, options.readyTimeoutMs ?? defaultReadyTimeoutMs);
  }
  await waitUntilServing(dataDir, layout, members, projectRoot, options.readyTimeoutMs ?? defaultReadyTimeoutMs, log);
  const environment = {
    TEMPORAL_ADDRESS: frontendAddress(layout),
    ...(uiServer === null ? {} : { TEMPORAL_UI_URL: uiUrl(layout) }),
    ...(layout.tls ? clusterTlsEnvironment(clusterCertificates(dataDir)) : {}),
  };
  return { layout, address: frontendAddress(layout), uiUrl: uiServer === null ? null : uiUrl(layout), started, environment };
}

export interface MemberStatus {
  readonly member: ClusterMember;
  readonly pid: number | null;
  readonly ports: readonly number[];
  /** Its process runs and accepts connections (gRPC; membership for the worker service; HTTP for the UI). */
  readonly alive: boolean;
  readonly log: string;
}

export async function clusterStatus(projectRoot: string, dataDir: string): Promise<{ layout: ClusterLayout; members: MemberStatus[] } | null> {
  const layout = await readLayout(dataDir);
  if (layout === null) return null;
  const members: MemberStatus[] = [];
  for (const member of [...clusterProcessNames, 'ui' as const]) {
    const pid = await runningPid(dataDir, member, commandOf(projectRoot, member));
    const ports = portsOf(layout, member);
    const alive = pid !== null && (await isPortOpen(layout.host, readinessPort(layout, member)));
    members.push({ member, pid, ports, alive, log: processFiles(dataDir, member).log });
  }
  return { layout, members };
}

/** Stops every member at once (SIGTERM: the server drains and leaves the membership ring), SIGKILL after a grace period. */
export async function stopCluster(projectRoot: string, dataDir: string, log: Log): Promise<void> {
  const order: ClusterMember[] = ['ui', 'frontend', 'worker', 'matching', 'history-2', 'history-1'];
  await Promise.all(
    order.map(async (member) => {
      const outcome = await stopProcess(dataDir, member, commandOf(projectRoot, member), stopGraceMs);
      if (outcome !== 'not running') log(`${member} ${outcome === 'killed' ? `did not stop within ${stopGraceMs / 1000}s: killed` : 'stopped'}`);
    }),
  );
}
