// `npm run bench -- --temporal cluster`: what each Temporal service process costs per change,
// and what the cluster's persistence costs the shared Postgres beside the unified store.
// Sampled once a second on its own; each of our steps is read back over its own window.
import type pg from 'pg';
import type { ClusterMember } from '../src/cluster/cluster.js';
import type { ClusterLayout } from '../src/cluster/layout.js';
import { benchDatabaseNames } from './config.js';
import { ProcessMeter } from './proc-stats.js';
import type { StepResult } from './results.js';
import { formatTable, show } from './table.js';

interface DatabaseCounters {
  readonly xacts: number;
  /** Rows inserted, updated and deleted. */
  readonly rowWrites: number;
}

interface ClusterSample {
  readonly atMs: number;
  readonly cpuSeconds: Readonly<Partial<Record<ClusterMember, number>>>;
  /** CPU of the Postgres backends serving the cluster's databases. */
  readonly persistenceCpuSeconds: number;
  readonly persistence: DatabaseCounters;
  readonly unified: DatabaseCounters;
}

export interface ClusterStepCost {
  readonly label: string;
  readonly changes: number;
  readonly achievedPerS: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly cpuMsPerChange: Readonly<Partial<Record<ClusterMember, number>>>;
  readonly persistenceCpuMsPerChange: number;
  readonly persistenceXactsPerChange: number;
  readonly persistenceRowWritesPerChange: number;
  readonly unifiedXactsPerChange: number;
  readonly unifiedRowWritesPerChange: number;
}

export class ClusterMeter {
  private readonly meters = new Map<ClusterMember, ProcessMeter>();
  private readonly persistenceMeter = new ProcessMeter();
  private readonly samples: ClusterSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly admin: pg.Pool,
    private readonly layout: ClusterLayout,
    private readonly pids: Readonly<Partial<Record<ClusterMember, number>>>,
  ) {
    for (const member of Object.keys(pids) as ClusterMember[]) this.meters.set(member, new ProcessMeter());
  }

  start(): void {
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, 1_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sampling;
  }

  private async sample(): Promise<void> {
    const cpuSeconds: Partial<Record<ClusterMember, number>> = {};
    for (const [member, meter] of this.meters) {
      const pid = this.pids[member];
      if (pid !== undefined) meter.sample([pid]);
      cpuSeconds[member] = meter.cpuSeconds;
    }
    const clusterDatabases = [this.layout.databases.main, this.layout.databases.visibility];
    const { rows: backends } = await this.admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)', [clusterDatabases]);
    this.persistenceMeter.sample(backends.map((row) => row.pid), []);
    const { rows } = await this.admin.query<{ datname: string; xacts: string; writes: string }>(
      `SELECT datname, xact_commit::text AS xacts, (tup_inserted + tup_updated + tup_deleted)::text AS writes
         FROM pg_stat_database WHERE datname = ANY($1)`,
      [[...clusterDatabases, benchDatabaseNames.unified]],
    );
    const counters = (names: readonly string[]): DatabaseCounters => ({
      xacts: rows.filter((row) => names.includes(row.datname)).reduce((sum, row) => sum + Number(row.xacts), 0),
      rowWrites: rows.filter((row) => names.includes(row.datname)).reduce((sum, row) => sum + Number(row.writes), 0),
    });
    this.samples.push({
      atMs: Date.now(),
      cpuSeconds,
      persistenceCpuSeconds: this.persistenceMeter.cpuSeconds,
      persistence: counters(clusterDatabases),
      unified: counters([benchDatabaseNames.unified]),
    });
  }

  /** The sample nearest after `atMs` (or the last). */
  private at(atMs: number): ClusterSample | undefined {
    return this.samples.find((sample) => sample.atMs >= atMs) ?? this.samples.at(-1);
  }

  /** Costs over a step's window (start to the end of its drain), per change it made. */
  costOf(step: StepResult): ClusterStepCost | null {
    const startMs = Date.parse(step.started_at);
    const first = this.at(startMs);
    const last = this.at(startMs + step.wall_s * 1_000);
    if (!first || !last || first === last || step.changes === 0) return null;
    const perChange = (delta: number) => delta / step.changes;
    const cpuMsPerChange: Partial<Record<ClusterMember, number>> = {};
    for (const member of this.meters.keys()) cpuMsPerChange[member] = perChange(((last.cpuSeconds[member] ?? 0) - (first.cpuSeconds[member] ?? 0)) * 1_000);
    return {
      label: step.label,
      changes: step.changes,
      achievedPerS: step.achieved_per_s,
      p50Ms: step.latency.p50_ms,
      p99Ms: step.latency.p99_ms,
      cpuMsPerChange,
      persistenceCpuMsPerChange: perChange((last.persistenceCpuSeconds - first.persistenceCpuSeconds) * 1_000),
      persistenceXactsPerChange: perChange(last.persistence.xacts - first.persistence.xacts),
      persistenceRowWritesPerChange: perChange(last.persistence.rowWrites - first.persistence.rowWrites),
      unifiedXactsPerChange: perChange(last.unified.xacts - first.unified.xacts),
      unifiedRowWritesPerChange: perChange(last.unified.rowWrites - first.unified.rowWrites),
    };
  }
}

const members: readonly ClusterMember[] = ['frontend', 'history-1', 'history-2', 'matching', 'worker'];

/** One row per step: CPU ms per change of each Temporal service process, and Postgres split into the cluster's persistence and the unified store. */
export function formatClusterCosts(costs: readonly ClusterStepCost[]): string {
  const header = ['step', 'changes', 'achieved/s', 'p50 ms', 'p99 ms', ...members.map((member) => `${member} ms`), 'persist. pg ms', 'persist. xacts', 'persist. rows', 'unified xacts', 'unified rows'];
  const rows = costs.map((cost) => [
    cost.label,
    String(cost.changes),
    show(cost.achievedPerS),
    show(cost.p50Ms),
    show(cost.p99Ms),
    ...members.map((member) => show(cost.cpuMsPerChange[member])),
    show(cost.persistenceCpuMsPerChange),
    show(cost.persistenceXactsPerChange),
    show(cost.persistenceRowWritesPerChange),
    show(cost.unifiedXactsPerChange),
    show(cost.unifiedRowWritesPerChange),
  ]);
  return `Temporal cluster, per change (CPU ms of each service process; Postgres: the cluster's persistence backends' CPU, its commits and row writes, and the unified store's):\n${formatTable(header, rows)}`;
}
