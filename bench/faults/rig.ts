import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import type { SourceName } from '../../src/domain/room.js';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { ensureTemporalCli, startTemporalDevServer, type TemporalServerHandle } from '../../src/setup/temporal.js';
import { clusterStatus, isPortOpen, killMember, readinessPort, startCluster, startMember, stopCluster, type ClusterMember } from '../../src/cluster/cluster.js';
import type { ClusterLayout } from '../../src/cluster/layout.js';
import { dropClusterDatabases } from '../../src/cluster/persistence.js';
import { monitorTaskQueue } from '../../src/workers/task-queues.js';
import { AlertReceiver } from '../../test/support/alert-receiver.js';
import { addRooms, buildCatalog, type Catalog } from '../catalog.js';
import { ChildService } from '../children.js';
import { adminUrl, databaseUrl, namespace, serverUrl, taskQueue, type DatabaseNames } from '../config.js';
import { dropDatabases, recreateDatabases } from '../databases.js';
import { LoadGenerator, type GeneratorRun } from '../load-generator.js';
import { pipelineEnv, waitUntil } from '../our-pipeline.js';
import { freePort } from '../ports.js';
import { Rng } from '../rng.js';
import { insertCloudRooms, insertHotels, insertLegacyRooms } from '../seed.js';
import { AuditLedger, type LedgerCounts } from './audit-ledger.js';
import { FaultWorkload } from './workload.js';

const harnessApplicationName = 'faults-harness';
const stallMs = 120_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RigOptions {
  /** Names this run's databases and data directory apart from any other harness run (the script's and the test's). */
  readonly prefix: string;
  readonly scenario: number;
  readonly hotels: number;
  readonly rooms: number;
  readonly rate: number;
  readonly seed: number;
  /** `dev`: one Temporal dev server (SQLite); `cluster`: `room-sync cluster` (each service its own process, on Postgres). */
  readonly temporal: 'dev' | 'cluster';
  readonly log: (message: string) => void;
  /** Node options for the worker processes (e.g. --trace-gc: each isolate's heap after every collection, in the worker's log). */
  readonly workerNodeOptions?: readonly string[];
}

export type WorkerOnly = 'rooms' | 'monitor';

export interface PageCounts {
  readonly sent: number;
  readonly resolved: number;
  /** The sources that were paged for, e.g. ['legacy']. */
  readonly sources: readonly string[];
}

/** Every child a rig ever spawned, so that whatever ends the harness, none outlives it. */
const spawned = new Set<number>();
process.on('exit', () => {
  for (const pid of spawned) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * One scenario's world: three fresh databases, a Temporal dev server of its own (own
 * ports, own SQLite file), the pipeline as separate processes (`room-sync worker`,
 * `room-sync connector --source …`), an alert receiver, and the fault load.
 */
export class FaultRig {
  readonly names: DatabaseNames;
  readonly dataDir: string;
  readonly catalog: Catalog;
  readonly workload: FaultWorkload;
  readonly alerts = new AlertReceiver();
  admin!: pg.Pool;
  unified!: pg.Pool;
  ledger!: AuditLedger;
  address = '';
  private uiPort = 0;
  private temporal: TemporalServerHandle | null = null;
  private cluster: ClusterLayout | null = null;
  private readonly children: ChildService[] = [];
  private sources: Record<SourceName, pg.Pool> | null = null;
  private loadRun: Promise<GeneratorRun> | null = null;
  private loadStopping = false;
  private generator: LoadGenerator | null = null;
  private alertsStarted = false;
  private readonly killed = new Set<ChildService>();

  constructor(readonly options: RigOptions) {
    const base = `rs_faults_${options.prefix}_s${options.scenario}`;
    this.names = { legacy: `${base}_legacy`, cloud: `${base}_cloud`, unified: `${base}_unified` };
    this.dataDir = join(projectRoot, '.data', 'faults', `${options.prefix}-s${options.scenario}`);
    this.catalog = buildCatalog(options.hotels);
    addRooms(this.catalog, options.rooms);
    this.workload = new FaultWorkload(this.catalog, new Rng(options.seed + options.scenario));
  }

  get log(): (message: string) => void {
    return this.options.log;
  }

  url(database: 'legacy' | 'cloud' | 'unified'): string {
    return databaseUrl(database, this.names);
  }

  slotName(source: SourceName): string {
    return describeSource(source, this.url(source)).slotName;
  }

  /** Fresh databases with the seeded rooms, the alert receiver, and Temporal. */
  async setUp(): Promise<void> {
    await rm(this.dataDir, { recursive: true, force: true });
    await mkdir(this.dataDir, { recursive: true });
    await recreateDatabases(this.names, this.log, { benchTables: false });
    // Faults terminate sessions and restart the server: a pool must survive its idle clients dying.
    const pool = (url: string, max: number) => {
      // Idle connections are kept: the load goes on writing through them while a source refuses new connections (scenario 5).
      const created = new pg.Pool({ connectionString: url, max, application_name: harnessApplicationName, idleTimeoutMillis: 0 });
      created.on('error', () => undefined);
      return created;
    };
    this.admin = pool(adminUrl(), 2);
    this.unified = pool(this.url('unified'), 2);
    this.sources = { legacy: pool(this.url('legacy'), 4), cloud: pool(this.url('cloud'), 4) };
    this.ledger = new AuditLedger(this.unified);
    await insertHotels(this.sources.legacy, this.sources.cloud, this.catalog.hotels);
    await insertLegacyRooms(this.sources.legacy, this.catalog.rooms);
    await insertCloudRooms(this.sources.cloud, this.catalog.rooms);
    await this.alerts.start();
    this.alertsStarted = true;
    if (this.options.temporal === 'cluster') {
      await this.startCluster();
      return;
    }
    this.uiPort = await freePort();
    this.address = `127.0.0.1:${await freePort()}`;
    await this.startTemporal();
  }

  get clusterDataDir(): string {
    return join(this.dataDir, 'cluster');
  }

  /** `room-sync cluster start` on free ports, with databases named after this rig's. */
  private async startCluster(): Promise<void> {
    const started = await startCluster({
      projectRoot,
      dataDir: this.clusterDataDir,
      frontendPort: 0,
      uiPort: 0,
      postgresUrl: serverUrl,
      databasePrefix: `rs_faults_${this.options.prefix}_s${this.options.scenario}_`,
      namespace,
      ui: false,
      log: this.log,
    });
    this.cluster = started.layout;
    this.address = started.address;
    await this.noteClusterPids();
  }

  /** The cluster's processes are detached: the exit hook kills them too, whatever ends the harness. */
  private async noteClusterPids(): Promise<void> {
    const status = await clusterStatus(projectRoot, this.clusterDataDir);
    for (const member of status?.members ?? []) if (member.pid !== null) spawned.add(member.pid);
  }

  /** kill -9 of one process of the cluster (a host failure). */
  async killClusterMember(member: ClusterMember): Promise<void> {
    const pid = await killMember(projectRoot, this.clusterDataDir, member);
    if (pid === null) throw new Error(`cluster ${member} was not running`);
  }

  /** Starts a killed member again on its ports and config; resolves once its gRPC port accepts connections. */
  async restartClusterMember(member: Exclude<ClusterMember, 'ui'>): Promise<void> {
    const layout = this.cluster;
    if (!layout) throw new Error('no cluster');
    for (let attempt = 1; ; attempt++) {
      try {
        await startMember(projectRoot, this.clusterDataDir, layout, member);
        break;
      } catch (error) {
        // The killed process's port may take a moment to be free.
        if (attempt >= 10) throw error;
        await sleep(1_000);
      }
    }
    await this.noteClusterPids();
    await waitUntil(`cluster ${member} listening again`, 120_000, () => isPortOpen(layout.host, readinessPort(layout, member)), () => null);
  }

  /** The cluster's processes that are not running, as failures. */
  async clusterDown(): Promise<string[]> {
    if (!this.cluster) return [];
    const status = await clusterStatus(projectRoot, this.clusterDataDir);
    return (status?.members ?? []).filter((member) => member.member !== 'ui' && !member.alive).map((member) => `cluster ${member.member} is down`);
  }

  /** Starts Temporal on this rig's SQLite file and ports; a restart keeps both (the ports may take a moment to free). */
  async startTemporal(): Promise<void> {
    const cliPath = await ensureTemporalCli(projectRoot, this.log);
    for (let attempt = 1; ; attempt++) {
      try {
        this.temporal = await startTemporalDevServer({ cliPath, dataDir: this.dataDir, address: this.address, uiPort: this.uiPort, namespace, log: () => undefined });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        await sleep(1_000);
      }
    }
    if (this.temporal.pid !== undefined) spawned.add(this.temporal.pid);
  }

  killTemporal(): void {
    if (this.temporal?.pid !== undefined) process.kill(this.temporal.pid, 'SIGKILL');
    this.temporal = null;
  }

  private env(): Record<string, string> {
    return { ...pipelineEnv(this.names, this.address), ALERT_WEBHOOK_URLS: this.alerts.url('/webhook') };
  }

  private spawn(name: string, args: readonly string[]): ChildService {
    const nodeOptions = args[0] === 'worker' ? (this.options.workerNodeOptions ?? []) : [];
    const child = ChildService.start(name, ['src/cli/main.ts', ...args], this.env(), join(this.dataDir, `${name.replace(/\s+/g, '-')}.log`), nodeOptions);
    spawned.add(child.pid);
    this.children.push(child);
    return child;
  }

  /** A `room-sync worker` (`--only rooms|monitor` when given), once it polls its task queue. */
  async startWorker(name = 'worker', only?: WorkerOnly): Promise<ChildService> {
    const queue = only === 'monitor' ? monitorTaskQueue(taskQueue) : taskQueue;
    const before = await this.pollerIdentities(queue);
    const worker = this.spawn(name, ['worker', ...(only === undefined ? [] : ['--only', only])]);
    await waitUntil(`${name} to poll ${queue}`, 180_000, async () => {
      const now = await this.pollerIdentities(queue);
      return [...now].some((identity) => identity.startsWith(`${worker.pid}@`) || !before.has(identity));
    }, () => (worker.running ? null : `${name} exited (see ${worker.logPath})`));
    return worker;
  }

  private async pollerIdentities(queue: string): Promise<Set<string>> {
    const connection = await Connection.connect({ address: this.address, connectTimeout: '5s' });
    try {
      const response = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue } });
      return new Set((response.pollers ?? []).map((poller) => poller.identity ?? ''));
    } finally {
      await connection.close();
    }
  }

  startConnector(source: SourceName, name = `connector-${source}`): ChildService {
    return this.spawn(name, ['connector', '--source', source]);
  }

  /** Every child spawned so far, the dead included. */
  get processes(): readonly ChildService[] {
    return this.children;
  }

  /** Processes that ended though no fault killed them: a fault must not take down what it did not aim at. */
  unexpectedExits(): string[] {
    return this.children.filter((child) => !child.running && !this.killed.has(child)).map((child) => `${child.name} exited by itself (see ${child.logPath})`);
  }

  /** Writes whose statement failed (or, while the load runs, is still in flight). */
  get failedWrites(): number {
    return this.workload.attempts.length - this.workload.committed;
  }

  async cloudDelete(cloudId: string): Promise<void> {
    await this.sources?.cloud.query('DELETE FROM room_inventory WHERE id = $1', [cloudId]);
  }

  /** Until the unified side holds no cloud values for the room (it left cloud); false on timeout. */
  async waitForLeft(hotelCode: string, roomCode: string, timeoutMs: number): Promise<boolean> {
    return waitUntil(`${hotelCode}/${roomCode} marked as left cloud`, timeoutMs, async () => {
      // A source a room left is stored with its position and no values (src/db/room-repository.ts).
      const { rows } = await this.unified.query<{ values_kind: string | null }>(
        "SELECT jsonb_typeof(cloud -> 'values') AS values_kind FROM room_sources WHERE hotel_code = $1 AND room_code = $2",
        [hotelCode, roomCode],
      );
      return rows[0] !== undefined && rows[0].values_kind !== 'object';
    }, () => null).then(() => true, () => false);
  }

  /** kill -9, and wait until the process is gone. */
  async kill(child: ChildService): Promise<void> {
    this.killed.add(child);
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
  }

  /** The slot's walsender is attached: a connector is streaming from it. */
  async waitForStreaming(source: SourceName, timeoutMs = 120_000): Promise<void> {
    await waitUntil(`the ${source} connector streaming`, timeoutMs, async () => {
      const { rows } = await this.admin.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [this.slotName(source)]);
      return rows[0]?.active === true;
    }, () => null);
  }

  /**
   * One worker and both connectors, the snapshots delivered. On the cluster, the layout of
   * several machines: two room workers, one monitor worker, and a standby connector beside
   * each source's connector (waiting for the slot, its lock).
   */
  async startPipeline(): Promise<void> {
    const cluster = this.options.temporal === 'cluster';
    if (cluster) {
      await this.startWorker('worker', 'rooms');
      await this.startWorker('worker-2', 'rooms');
      await this.startWorker('monitor', 'monitor');
    } else {
      await this.startWorker();
    }
    for (const source of ['legacy', 'cloud'] as const) this.startConnector(source);
    await waitUntil('both snapshots delivered', 300_000, async () => {
      const { rows } = await this.unified.query<{ snapshots: number }>(`SELECT count(*)::int AS snapshots FROM cdc_cursors WHERE snapshot_completed_at IS NOT NULL`);
      return rows[0]?.snapshots === 2;
    }, () => {
      const dead = this.children.find((child) => !child.running);
      return dead ? `${dead.name} exited (see ${dead.logPath})` : null;
    });
    await this.waitForStreaming('legacy');
    await this.waitForStreaming('cloud');
    // Started once the slots exist and stream: a standby finds its slot in use and waits.
    if (cluster) for (const source of ['legacy', 'cloud'] as const) this.startConnector(source, `connector-${source}-standby`);
  }

  /** The names of the pipeline's processes as startPipeline started them. */
  get pipelineNames(): string[] {
    const connectors = ['connector-legacy', 'connector-cloud'];
    if (this.options.temporal === 'dev') return ['worker', ...connectors];
    return ['worker', 'worker-2', 'monitor', ...connectors, ...connectors.map((name) => `${name}-standby`)];
  }

  startLoad(rate = this.options.rate): void {
    if (!this.sources) throw new Error('rig not set up');
    this.loadStopping = false;
    this.generator = new LoadGenerator(this.sources, 8, this.workload.onChange);
    this.loadRun = this.generator.run((now) => this.workload.plan(now), { rate, seconds: 24 * 3_600, stopped: () => this.loadStopping });
  }

  async stopLoad(): Promise<GeneratorRun | null> {
    this.loadStopping = true;
    const run = await this.loadRun;
    this.loadRun = null;
    return run;
  }

  /** Audit rows read so far against the attempts; a failed read (a fault in progress) keeps the previous rows. */
  async counts(): Promise<LedgerCounts> {
    await this.ledger.poll().catch(() => undefined);
    return this.ledger.counts(this.workload.attempts);
  }

  /** The counts from a fresh read of every audit row: what the row reports, whatever the incremental reads saw. */
  async finalCounts(): Promise<LedgerCounts> {
    const ledger = new AuditLedger(this.unified);
    await ledger.poll();
    return ledger.counts(this.workload.attempts);
  }

  /** Until every committed change has its audit row, or the timeout; the last counts either way. */
  async converge(timeoutMs: number, progress: (counts: LedgerCounts) => void): Promise<{ counts: LedgerCounts; converged: boolean }> {
    const deadline = Date.now() + timeoutMs;
    let lastReport = 0;
    let lastApplied = -1;
    let lastProgress = Date.now();
    for (;;) {
      const counts = await this.counts();
      if (counts.missing === 0) return { counts, converged: true };
      if (counts.applied !== lastApplied) [lastApplied, lastProgress] = [counts.applied, Date.now()];
      // Stuck (nothing applied for two minutes): no point waiting out the timeout either.
      if (Date.now() - lastProgress > stallMs) return { counts, converged: false };
      // Nothing applies without a worker: no point waiting out the timeout.
      if (Date.now() > deadline || !this.children.some((child) => child.name.startsWith('worker') && child.running)) return { counts, converged: false };
      if (Date.now() - lastReport > 5_000) {
        lastReport = Date.now();
        progress(counts);
      }
      await sleep(1_000);
    }
  }

  /** Seconds from `sinceMs` until the changes committed before it were all audited; polls until then (bounded). */
  async currentAgain(sinceMs: number, timeoutMs = 600_000): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.ledger.poll().catch(() => undefined);
      const seconds = this.ledger.currentAgainS(this.workload.attempts, sinceMs * 1_000);
      if (seconds !== null || Date.now() > deadline) return seconds;
      await sleep(250);
    }
  }

  async pages(): Promise<PageCounts> {
    const { rows } = await this.unified.query<{ sent: number; resolved: number; sources: string[] | null }>(
      `SELECT count(*) FILTER (WHERE paged_at IS NOT NULL)::int AS sent,
              count(*) FILTER (WHERE paged_at IS NOT NULL AND resolved_at IS NOT NULL)::int AS resolved,
              array_agg(DISTINCT coalesce(source, subject)) FILTER (WHERE paged_at IS NOT NULL) AS sources
         FROM alerts`,
    );
    const row = rows[0];
    return { sent: row?.sent ?? 0, resolved: row?.resolved ?? 0, sources: row?.sources ?? [] };
  }

  /**
   * Terminates the pipeline's sessions on one of this rig's databases (walsenders included);
   * the harness's own are spared, so a source cut off from the pipeline still takes writes.
   */
  async terminateSessions(database: 'legacy' | 'cloud' | 'unified'): Promise<void> {
    await this.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2', [this.names[database], harnessApplicationName]);
  }

  /** Stops everything this rig started and drops its databases. */
  async tearDown(keepDatabases = false): Promise<void> {
    this.loadStopping = true;
    await this.loadRun?.catch(() => null);
    for (const child of this.children.filter((candidate) => candidate.name.startsWith('connector'))) await child.stop(10_000);
    for (const child of this.children) await child.stop(10_000);
    await this.temporal?.stop();
    this.temporal = null;
    if (this.cluster) {
      const layout = this.cluster;
      await stopCluster(projectRoot, this.clusterDataDir, () => undefined);
      if (!keepDatabases) await dropClusterDatabases(layout).catch((error: unknown) => this.log(`could not drop the cluster's databases: ${String(error)}`));
      this.cluster = null;
    }
    if (this.alertsStarted) await this.alerts.stop();
    await Promise.all([this.sources?.legacy.end(), this.sources?.cloud.end(), this.unified?.end(), this.admin?.end()]);
    if (!keepDatabases) await dropDatabases(this.names).catch((error: unknown) => this.log(`could not drop ${Object.values(this.names).join(', ')}: ${String(error)}`));
  }
}
