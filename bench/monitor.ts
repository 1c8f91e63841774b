import type pg from 'pg';
import { benchDatabaseNames, applicationNames } from './config.js';
import { machineBusySeconds, ProcessMeter, processTree, withDescendants } from './proc-stats.js';

/** What the bench measures CPU and memory of. */
export const componentNames = ['temporal', 'worker', 'connectors', 'baseline', 'postgres', 'generator_postgres', 'bench'] as const;
export type ComponentName = (typeof componentNames)[number];

export interface Snapshot {
  readonly atMs: number;
  readonly cpuSeconds: Readonly<Record<ComponentName, number>>;
  readonly rssKiB: Readonly<Record<ComponentName, number>>;
  readonly peakKiB: Readonly<Record<ComponentName, number>>;
  /** pg_stat_database.xact_commit of each bench database. */
  readonly xactCommit: Readonly<Record<'legacy' | 'cloud' | 'unified', number>>;
  /** Transactions the bench itself ran on the unified database (to leave out of the per-change count). */
  readonly benchUnifiedTransactions: number;
  /** Busy CPU seconds of the whole machine (every process, every core). */
  readonly machineBusyS: number;
}

export interface LagReading {
  readonly atMs: number;
  /** now() − cdc_cursors.last_acked_commit_time per source, seconds. */
  readonly cursorLagS: Readonly<Record<string, number | null>>;
  /** WAL not yet confirmed by each bench slot, bytes. */
  readonly slotLagBytes: Readonly<Record<string, number>>;
}

interface ComponentPids {
  roots: number[];
  withChildren: boolean;
}

const emptyRecord = (): Record<ComponentName, number> => ({
  temporal: 0, worker: 0, connectors: 0, baseline: 0, postgres: 0, generator_postgres: 0, bench: 0,
});

/**
 * Samples once a second: CPU and memory of every component (from /proc), the Postgres
 * backends serving the bench databases, the connectors' cursor lag and the slots' WAL lag.
 */
export class Monitor {
  private readonly meters = new Map<ComponentName, ProcessMeter>(componentNames.map((name) => [name, new ProcessMeter()]));
  private readonly pids = new Map<ComponentName, ComponentPids>();
  /** Databases whose Postgres backends count in a component: a cluster's persistence is Temporal's, as the dev server's SQLite is. */
  private readonly databases = new Map<ComponentName, readonly string[]>();
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> = Promise.resolve();
  private unifiedQueries = 0;
  private readonly lagReadings: LagReading[] = [];

  constructor(
    private readonly admin: pg.Pool,
    private readonly unified: pg.Pool,
    private readonly benchTransactions: () => number,
  ) {
    this.pids.set('bench', { roots: [process.pid], withChildren: false });
  }

  /** Sets (or with an empty list, clears) the processes a component is made of. */
  track(component: ComponentName, roots: number[], withChildren = true): void {
    this.pids.set(component, { roots, withChildren });
  }

  /** The backends serving these databases count in the component too (with an empty list, no longer). */
  trackDatabases(component: ComponentName, databases: readonly string[]): void {
    this.databases.set(component, databases);
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

  get lag(): readonly LagReading[] {
    return this.lagReadings;
  }

  /** CPU seconds of a component as of the last sample. */
  cpuTotal(component: ComponentName): number {
    return this.meters.get(component)?.cpuSeconds ?? 0;
  }

  memory(component: ComponentName): { rssKiB: number; peakKiB: number } {
    const meter = this.meters.get(component);
    return { rssKiB: meter?.rssKiB ?? 0, peakKiB: meter?.peakKiB ?? 0 };
  }

  latestLag(): LagReading | undefined {
    return this.lagReadings.at(-1);
  }

  /** A fresh sample of everything, for the boundaries of a step. */
  async snapshot(): Promise<Snapshot> {
    this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    await this.sampling;
    const { rows } = await this.admin.query<{ datname: string; xact_commit: string }>(
      'SELECT datname, xact_commit::text FROM pg_stat_database WHERE datname = ANY($1)',
      [Object.values(benchDatabaseNames)],
    );
    const xact = (name: string) => Number(rows.find((row) => row.datname === name)?.xact_commit ?? 0);
    const cpuSeconds = emptyRecord();
    const rssKiB = emptyRecord();
    const peakKiB = emptyRecord();
    for (const name of componentNames) {
      const meter = this.meters.get(name);
      if (!meter) continue;
      cpuSeconds[name] = meter.cpuSeconds;
      rssKiB[name] = meter.rssKiB;
      peakKiB[name] = meter.peakKiB;
    }
    return {
      atMs: Date.now(),
      cpuSeconds,
      rssKiB,
      peakKiB,
      xactCommit: { legacy: xact(benchDatabaseNames.legacy), cloud: xact(benchDatabaseNames.cloud), unified: xact(benchDatabaseNames.unified) },
      benchUnifiedTransactions: this.unifiedQueries + this.benchTransactions(),
      machineBusyS: machineBusySeconds(),
    };
  }

  private async sample(): Promise<void> {
    const tree = processTree();
    // One look at the sessions: the bench databases' and those a component claims (a cluster's persistence).
    const benchDatabases: readonly string[] = Object.values(benchDatabaseNames);
    const claimed = [...this.databases.values()].flat();
    const { rows: sessions } = await this.admin.query<{ pid: number; datname: string; application_name: string }>(
      `SELECT pid, datname, application_name FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`,
      [[...benchDatabases, ...claimed]],
    );
    for (const [name, { roots, withChildren }] of this.pids) {
      const live = roots.length === 0 ? [] : withChildren ? withDescendants(roots, tree) : roots;
      const databases = this.databases.get(name) ?? [];
      const backends = sessions.filter((row) => databases.includes(row.datname)).map((row) => row.pid);
      // Memory stays the processes' own: a backend's RSS is mostly Postgres's shared buffers.
      this.meters.get(name)?.sample([...live, ...backends], roots);
    }
    const backends = sessions.filter((row) => benchDatabases.includes(row.datname));
    const generator = backends.filter((row) => row.application_name === applicationNames.generator).map((row) => row.pid);
    const pipeline = backends.filter((row) => row.application_name !== applicationNames.generator && row.application_name !== applicationNames.monitor).map((row) => row.pid);
    this.meters.get('generator_postgres')?.sample(generator, []);
    this.meters.get('postgres')?.sample(pipeline, []);

    const { rows: slots } = await this.admin.query<{ slot_name: string; lag: number | null }>(
      `SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
         FROM pg_replication_slots WHERE database = ANY($1)`,
      [Object.values(benchDatabaseNames)],
    );
    this.unifiedQueries += 1;
    const { rows: cursors } = await this.unified.query<{ source: string; lag: number | null }>(
      'SELECT source, extract(epoch FROM now() - last_acked_commit_time)::float8 AS lag FROM cdc_cursors',
    );
    this.lagReadings.push({
      atMs: Date.now(),
      cursorLagS: Object.fromEntries(cursors.map((row) => [row.source, row.lag])),
      slotLagBytes: Object.fromEntries(slots.map((row) => [row.slot_name, row.lag ?? 0])),
    });
  }
}
