import type { Target } from './applied-feed.js';
import type { ComponentName } from './monitor.js';
import type { LatencySummary } from './stats.js';

export type PhaseKind = 'fixed' | 'ramp' | 'hold' | 'memory' | 'drain' | 'age' | 'overload' | 'cold';

export interface TimelinePoint {
  /** Seconds since the step's first change. */
  readonly t_s: number;
  /** Changes committed to a source and not yet reflected in the unified row. */
  readonly backlog: number;
  /** Latency of the changes started in this second. */
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly max_ms: number | null;
}

export interface StepResult {
  readonly label: string;
  readonly target: Target;
  readonly phase: PhaseKind;
  readonly started_at: string;
  readonly offered_per_s: number;
  readonly achieved_per_s: number;
  readonly seconds: number;
  readonly changes: number;
  readonly failed_writes: number;
  /** Share of the step's changes generated to disagree with the other source. */
  readonly conflict_share: number;
  /** Over the steady window (after the warm-up). */
  readonly latency: LatencySummary;
  /** Changes never reflected before the drain deadline. */
  readonly unapplied: number;
  readonly backlog: {
    readonly slope_per_s: number;
    readonly mean: number;
    readonly max: number;
    readonly end: number;
    readonly growing: boolean;
  };
  /** Ours only: now() − cdc_cursors.last_acked_commit_time, worst source. */
  readonly cursor_lag_s: { readonly max: number | null; readonly slope_per_s: number | null; readonly growing: boolean };
  /** WAL not yet confirmed by the design's slots, worst slot. */
  readonly slot_lag_max_bytes: number | null;
  /** Seconds after the generator stopped until every change was reflected. */
  readonly drain_s: number;
  readonly sustained: boolean;
  /** Not sustained only because the generator could not offer the rate: the design's limit lies higher. */
  readonly generator_bound: boolean;
  readonly verdict: string;
  readonly cpu_s: Readonly<Partial<Record<ComponentName, number>>>;
  readonly cpu_ms_per_change: Readonly<Partial<Record<ComponentName, number>>>;
  /** The same with each component's idle CPU (measured before the load) over the step's wall time taken out. */
  readonly cpu_ms_per_change_net_of_idle: Readonly<Partial<Record<ComponentName, number>>>;
  /** From the step's start to the end of its drain and settle. */
  readonly wall_s: number;
  /** CPU the rest of the machine used meanwhile (processes outside the bench), in cores: noise. */
  readonly other_load_cores: number;
  /** The rest of the machine used more than --max-other-load cores: the step's figures are not to be trusted. */
  readonly unreliable: boolean;
  /** Changes reflected per second in each 10 s window from the step's first change (the drain included). */
  readonly applied_per_10s: readonly number[];
  /** pg_stat_database.xact_commit on the unified database per change, the bench's own reads left out. */
  readonly unified_xacts_per_change: number;
  readonly source_xacts_per_change: number;
  readonly rss_mib_at_end: Readonly<Partial<Record<ComponentName, number>>>;
  readonly timeline: readonly TimelinePoint[];
  /** A sample of [seconds since the step's first change, latency ms], for the plot. */
  readonly scatter: readonly (readonly [number, number])[];
  /** Latency quantiles 0..1000 ‰ (every 5 ‰), for the distribution plot. */
  readonly quantiles_ms: readonly number[];
}

export interface DesignSummary {
  readonly fixed: StepResult | null;
  readonly ramp: readonly StepResult[];
  readonly holds: readonly StepResult[];
  readonly max_sustained_per_s: number | null;
  /** The step the maximum comes from (a hold when there is one). */
  readonly at_max: StepResult | null;
  readonly backlog_growing_at_max: boolean;
  /** The lowest offered rate tried that was not sustained, if any. */
  readonly first_unsustained_per_s: number | null;
  /** True when no step failed for the design's own reasons: its maximum is then only a lower bound. */
  readonly max_is_lower_bound: boolean;
}

export interface MemoryResult {
  /** Rooms in the unified view when memory was read. */
  readonly workflows_touched: number;
  /** As Temporal's visibility store counts them. */
  readonly open_room_workflows: number | null;
  readonly worker_rss_mib: number;
  readonly worker_hwm_mib: number;
  readonly temporal_rss_mib: number;
  /** Room workflows this phase opened, how long that took, and what each cost. */
  readonly opened: number;
  readonly opening_s: number;
  readonly opened_per_s: number;
  readonly cpu_ms_per_opened_workflow: Readonly<Partial<Record<ComponentName, number>>>;
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpu_model: string;
  readonly memory_gib: number;
  readonly kernel: string;
  readonly node: string;
  readonly postgres: string;
  readonly temporal: string;
  readonly load_average_at_start: readonly number[];
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | null;
}
