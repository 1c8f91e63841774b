import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import type { SourceName } from '../src/domain/room.js';
import { projectRoot } from '../src/setup/source-schemas.js';
import { ensureTemporalCli, startTemporalDevServer, type TemporalServerHandle } from '../src/setup/temporal.js';
import { clusterStatus, startCluster, stopCluster, type ClusterMember } from '../src/cluster/cluster.js';
import { readLayout, type ClusterLayout } from '../src/cluster/layout.js';
import { dropClusterDatabases } from '../src/cluster/persistence.js';
import { monitorTaskQueue } from '../src/workers/task-queues.js';
import { ChildService } from './children.js';
import { benchDatabaseNames, benchDatabasePrefix, benchDataDir, databaseUrl, namespace, serverUrl, taskQueue, type DatabaseNames } from './config.js';
import { freePort } from './ports.js';

export interface OurPipelineOptions {
  readonly connectorMaxInFlight: number | null;
  readonly delivery: 'signal' | 'update';
  readonly workerCache: number | null;
  /** Directory for V8 CPU profiles of the children, or null. */
  readonly profileDir: string | null;
  /** Told each child's pid as soon as it is spawned (so a dying bench can stop it). */
  readonly onSpawn: (pid: number) => void;
  readonly log: (message: string) => void;
  /** `cluster`: `room-sync cluster` of its own (databases <prefix>temporal*), two room workers, a monitor worker, a standby connector per source. */
  readonly temporal?: 'dev' | 'cluster';
}

/** The bench's cluster: its own data folder and databases, fresh every run. */
export const benchClusterDir = join(benchDataDir, 'cluster');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until the probe holds; fails early when alive() names a process that died. */
export async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>, alive: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = alive();
    if (dead !== null) throw new Error(`${what}: ${dead}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}

/** The environment the CLI reads (src/config/env.ts) for a worker or connector on these databases and this Temporal server. */
export function pipelineEnv(names: DatabaseNames, temporalAddress: string): Record<string, string> {
  return {
    LEGACY_DATABASE_URL: databaseUrl('legacy', names),
    CLOUD_DATABASE_URL: databaseUrl('cloud', names),
    UNIFIED_DATABASE_URL: databaseUrl('unified', names),
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    // The worker's metrics endpoint would collide with a running `npm start`.
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  };
}

/**
 * Our design as `npm start` runs it, on the bench's databases: a Temporal dev server of
 * its own (own port, own SQLite file under .data/bench, started by the project's
 * startTemporalDevServer with its pragmas), the worker and one connector per source,
 * each the project's CLI in a child process so its CPU and memory can be read.
 */
export class OurPipeline {
  private temporalServer: TemporalServerHandle | null = null;
  private worker: ChildService | null = null;
  /** On the cluster: the second room worker and the monitor worker. */
  private readonly moreWorkers: ChildService[] = [];
  private readonly connectors = new Map<SourceName, ChildService>();
  private readonly standbys: ChildService[] = [];
  /** The cluster's layout and each Temporal service process's pid, when on the cluster. */
  cluster: ClusterLayout | null = null;
  clusterPids: Partial<Record<ClusterMember, number>> = {};
  private connection: Connection | null = null;
  address = '';
  /** The dev server's Prometheus endpoint (workflow task timeouts and failures for the overload phase). */
  metricsUrl = '';

  constructor(private readonly options: OurPipelineOptions) {}

  get temporalPid(): number | null {
    return this.temporalServer?.pid ?? null;
  }

  /** The dev server, or every process of the cluster. */
  get temporalPids(): number[] {
    if (this.cluster) return Object.values(this.clusterPids);
    return this.temporalServer?.pid === undefined ? [] : [this.temporalServer.pid];
  }

  get workerPid(): number | null {
    return this.worker?.pid ?? null;
  }

  get workerPids(): number[] {
    return [...(this.worker ? [this.worker] : []), ...this.moreWorkers].map((worker) => worker.pid);
  }

  get connectorPids(): number[] {
    return [...this.connectors.values(), ...this.standbys].map((connector) => connector.pid);
  }

  private get onCluster(): boolean {
    return this.options.temporal === 'cluster';
  }

  private env(): Record<string, string> {
    const env = pipelineEnv(benchDatabaseNames, this.address);
    if (this.options.connectorMaxInFlight !== null) env['CONNECTOR_MAX_IN_FLIGHT'] = String(this.options.connectorMaxInFlight);
    env['CONNECTOR_DELIVERY'] = this.options.delivery;
    if (this.options.workerCache !== null) env['WORKER_MAX_CACHED_WORKFLOWS'] = String(this.options.workerCache);
    return env;
  }

  private nodeArgs(): string[] {
    return this.options.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${this.options.profileDir}`];
  }

  async startTemporal(): Promise<void> {
    if (this.onCluster) {
      await this.startCluster();
      return;
    }
    const { log } = this.options;
    const cliPath = await ensureTemporalCli(projectRoot, log);
    for (const suffix of ['', '-wal', '-shm']) await rm(join(benchDataDir, `temporal.sqlite${suffix}`), { force: true });
    const [port, uiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    this.address = `127.0.0.1:${port}`;
    this.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    this.temporalServer = await startTemporalDevServer({ cliPath, dataDir: benchDataDir, address: this.address, uiPort, namespace, log, extraArgs: ['--metrics-port', String(metricsPort)] });
    if (this.temporalServer.pid !== undefined) this.options.onSpawn(this.temporalServer.pid);
    this.connection = await Connection.connect({ address: this.address });
  }

  /** A fresh `room-sync cluster` (the previous run's stopped and its databases dropped), its processes' pids read back. */
  private async startCluster(): Promise<void> {
    const { log } = this.options;
    await stopCluster(projectRoot, benchClusterDir, () => undefined);
    const previous = await readLayout(benchClusterDir).catch(() => null);
    if (previous) await dropClusterDatabases(previous);
    await rm(benchClusterDir, { recursive: true, force: true });
    const started = await startCluster({
      projectRoot, dataDir: benchClusterDir, frontendPort: 0, uiPort: 0, postgresUrl: serverUrl, databasePrefix: benchDatabasePrefix, namespace, ui: false, log,
    });
    this.cluster = started.layout;
    this.address = started.address;
    const status = await clusterStatus(projectRoot, benchClusterDir);
    for (const member of status?.members ?? []) if (member.pid !== null) this.clusterPids[member.member] = member.pid;
    this.connection = await Connection.connect({ address: this.address });
  }

  /** The worker; on the cluster two room workers and a monitor worker (`worker --only rooms|monitor`). */
  async startWorker(): Promise<void> {
    const start = (name: string, args: readonly string[]) => {
      const child = ChildService.start(name, ['src/cli/main.ts', 'worker', ...args], this.env(), join(benchDataDir, `${name}.log`), this.nodeArgs());
      this.options.onSpawn(child.pid);
      return child;
    };
    const worker = start('worker', this.onCluster ? ['--only', 'rooms'] : []);
    this.worker = worker;
    if (this.onCluster) this.moreWorkers.push(start('worker-2', ['--only', 'rooms']), start('worker-monitor', ['--only', 'monitor']));
    const connection = this.connection;
    if (!connection) throw new Error('Temporal not started');
    const pollers = async (queue: string) =>
      // The type left unset means the workflow task queue.
      (await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue } })).pollers?.length ?? 0;
    await waitUntil(
      'the workers to poll their task queues',
      180_000,
      async () => {
        // The SDK's default identity is pid@host: a poller of a worker killed a moment ago is still listed for a while.
        const response = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } });
        if (!(response.pollers ?? []).some((poller) => poller.identity?.startsWith(`${worker.pid}@`) === true)) return false;
        return this.onCluster ? (await pollers(taskQueue)) >= 2 && (await pollers(monitorTaskQueue(taskQueue))) >= 1 : true;
      },
      () => {
        const dead = [worker, ...this.moreWorkers].find((child) => !child.running);
        return dead ? `${dead.name} exited (see ${dead.logPath})` : null;
      },
    );
  }

  /** Starts both connectors and waits until their snapshots reached the unified view. */
  async startConnectors(unified: pg.Pool, roomsInSources: number): Promise<void> {
    for (const source of ['legacy', 'cloud'] as const) {
      const connector = ChildService.start(`connector ${source}`, ['src/cli/main.ts', 'connector', '--source', source], this.env(), join(benchDataDir, `connector-${source}.log`), this.nodeArgs());
      this.connectors.set(source, connector);
      this.options.onSpawn(connector.pid);
    }
    await waitUntil(
      `both snapshots (${roomsInSources} rooms) in the unified view`,
      600_000,
      async () => {
        const { rows } = await unified.query<{ snapshots: number; rooms: number }>(
          `SELECT (SELECT count(*) FROM cdc_cursors WHERE snapshot_completed_at IS NOT NULL)::int AS snapshots,
                  (SELECT count(*) FROM unified_rooms WHERE legacy_commit_time IS NOT NULL AND cloud_commit_time IS NOT NULL)::int AS rooms`,
        );
        return rows[0]?.snapshots === 2 && rows[0].rooms >= roomsInSources;
      },
      () => {
        const dead = [...this.connectors.values()].find((connector) => !connector.running);
        return dead ? `${dead.name} exited (see ${dead.logPath})` : this.worker?.running === false ? 'worker exited' : null;
      },
    );
    // On the cluster, a standby per source once the slots stream: it finds its slot in use and waits (the slot is the lock).
    if (this.onCluster) {
      for (const source of ['legacy', 'cloud'] as const) {
        const standby = ChildService.start(`connector ${source} standby`, ['src/cli/main.ts', 'connector', '--source', source], this.env(), join(benchDataDir, `connector-${source}-standby.log`), this.nodeArgs());
        this.standbys.push(standby);
        this.options.onSpawn(standby.pid);
      }
    }
  }

  /** Open room-group workflows, as Temporal's visibility store counts them; null when it cannot. */
  async openRoomWorkflows(): Promise<number | null> {
    if (!this.connection) return null;
    try {
      const client = new Client({ connection: this.connection, namespace });
      const { count } = await client.workflow.count(`WorkflowType = 'roomWorkflow' AND ExecutionStatus = 'Running'`);
      return count;
    } catch {
      return null;
    }
  }

  /** kill -9 of the worker (the cold-start phase). */
  async killWorker(): Promise<void> {
    await this.worker?.kill();
    this.worker = null;
  }

  /** A Temporal client on the bench's server (the cold-start phase reads each room's run). */
  client(): Client | null {
    return this.connection ? new Client({ connection: this.connection, namespace }) : null;
  }

  /** The connectors alone (the drain phase): their slots keep what is written meanwhile. */
  async stopConnectors(): Promise<void> {
    for (const connector of [...this.standbys, ...this.connectors.values()]) await connector.stop();
    this.connectors.clear();
    this.standbys.length = 0;
  }

  /** Connectors first (they deliver), then the worker, then Temporal. */
  async stop(): Promise<void> {
    await this.stopConnectors();
    await this.worker?.stop();
    this.worker = null;
    for (const worker of this.moreWorkers) await worker.stop();
    this.moreWorkers.length = 0;
    await this.connection?.close();
    this.connection = null;
    await this.temporalServer?.stop();
    this.temporalServer = null;
    if (this.cluster) {
      await stopCluster(projectRoot, benchClusterDir, () => undefined);
      await dropClusterDatabases(this.cluster);
      this.cluster = null;
      this.clusterPids = {};
    }
  }
}
