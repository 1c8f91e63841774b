import type { BenchOptions } from './options.js';
import { highestSustained } from './ramp.js';
import type { IdleCost } from './step.js';
import type { DrainResult } from './drain.js';
import type { DesignSummary, MachineInfo, MemoryResult, StepResult, TargetCheck } from './results.js';

export interface DesignRuns {
  readonly fixed: StepResult | null;
  readonly ramp: readonly StepResult[];
  readonly holds: readonly StepResult[];
}

export interface ReportInput {
  readonly options: BenchOptions;
  readonly machine: MachineInfo;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly ours: DesignRuns;
  readonly baseline: DesignRuns | null;
  readonly memory: MemoryResult | null;
  readonly drain: { readonly ours: DrainResult | null; readonly baseline: DrainResult | null };
  readonly idle: Partial<Record<'ours' | 'baseline', IdleCost>>;
  readonly peaksKiB: Readonly<Record<'worker' | 'connectors' | 'temporal' | 'baseline', number>>;
}

/**
 * The maximum sustained rate: a hold that stayed flat when there is one; otherwise the
 * highest sustained ramp step. When every hold grew, the last one is reported with
 * `backlog_growing_at_max` set.
 */
export function summarizeDesign(runs: DesignRuns): DesignSummary {
  const unsustained = runs.ramp.filter((step) => !step.sustained).map((step) => step.offered_per_s);
  const base = {
    fixed: runs.fixed,
    ramp: runs.ramp,
    holds: runs.holds,
    first_unsustained_per_s: unsustained.length === 0 ? null : Math.min(...unsustained),
    max_is_lower_bound: runs.ramp.every((step) => step.sustained || step.generator_bound),
  };
  const held = runs.holds.find((step) => step.sustained);
  if (held) return { ...base, max_sustained_per_s: held.offered_per_s, at_max: held, backlog_growing_at_max: false };
  const lastHold = runs.holds.at(-1);
  if (lastHold) return { ...base, max_sustained_per_s: lastHold.offered_per_s, at_max: lastHold, backlog_growing_at_max: true };
  const best = highestSustained(runs.ramp);
  if (best) return { ...base, max_sustained_per_s: best.offered_per_s, at_max: best, backlog_growing_at_max: false };
  const lowest = runs.ramp[0] ?? null;
  return { ...base, max_sustained_per_s: null, at_max: lowest, backlog_growing_at_max: true };
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a == null || b == null || b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? null : Math.round((a / b) * 1000) / 1000;

/** CPU ms per change summed over the design's own processes and Postgres backends. */
export function totalCpuMsPerChange(step: StepResult | null, netOfIdle = false): number | null {
  if (!step) return null;
  const own = ['temporal', 'worker', 'connectors', 'baseline', 'postgres'] as const;
  const figures = netOfIdle ? step.cpu_ms_per_change_net_of_idle : step.cpu_ms_per_change;
  return Math.round(own.reduce((sum, name) => sum + (figures[name] ?? 0), 0) * 1000) / 1000;
}

function cost(step: StepResult | null) {
  if (!step) return null;
  return {
    offered_per_s: step.offered_per_s,
    cpu_ms_per_change: step.cpu_ms_per_change,
    pipeline_cpu_ms_per_change: totalCpuMsPerChange(step),
    cpu_ms_per_change_net_of_idle: step.cpu_ms_per_change_net_of_idle,
    pipeline_cpu_ms_per_change_net_of_idle: totalCpuMsPerChange(step, true),
    unified_xacts_per_change: step.unified_xacts_per_change,
    source_xacts_per_change: step.source_xacts_per_change,
  };
}

function targets(input: ReportInput, ours: DesignSummary, baseline: DesignSummary | null, throughputRatio: number | null, drainRatio: number | null): TargetCheck[] {
  const { options, memory } = input;
  const fixed = ours.fixed;
  const standardFixed = options.rate === 100 && options.rooms === 2000;
  const hold = ours.holds.find((step) => step.sustained && step.offered_per_s >= 300 && step.seconds >= 119);
  return [
    {
      target: '100 changes/s over 2,000 rooms: p99 end-to-end <= 500 ms',
      measured: fixed ? `p99 ${fixed.latency.p99_ms} ms at ${fixed.offered_per_s}/s over ${options.rooms} rooms` : 'not run',
      met: fixed && standardFixed ? fixed.latency.p99_ms <= 500 && fixed.sustained : null,
    },
    {
      target: 'sustained >= 300 changes/s for 2 minutes, p99 <= 2 s, backlog flat',
      measured: hold
        ? `${hold.offered_per_s}/s held ${hold.seconds}s, p99 ${hold.latency.p99_ms} ms, backlog slope ${hold.backlog.slope_per_s}/s`
        : ours.holds.length === 0
          ? 'no hold run (--hold 0)'
          : `best hold: ${ours.holds.map((step) => `${step.offered_per_s}/s ${step.verdict}`).join('; ')}`,
      met: ours.holds.length === 0 ? null : hold !== undefined && hold.latency.p99_ms <= 2000,
    },
    {
      target: 'maximum sustained throughput >= 25% of the naive baseline',
      measured: baseline
        ? `ramp: ${ours.max_sustained_per_s ?? 0}/s vs ${baseline.max_sustained_per_s ?? 0}/s${baseline.max_is_lower_bound ? ' (a lower bound: the baseline kept up with all the generator could offer)' : ''} = ${throughputRatio ?? '?'}` +
          (input.drain.ours && input.drain.baseline ? `; drain of ${input.drain.ours.changes} queued changes: ${input.drain.ours.per_s}/s vs ${input.drain.baseline.per_s}/s = ${drainRatio ?? '?'}` : '')
        : 'baseline not run',
      // A baseline that never fell behind gives only a lower bound; then the drain, which the generator does not cap, decides.
      met:
        throughputRatio !== null && !baseline?.max_is_lower_bound
          ? throughputRatio >= 0.25
          : drainRatio !== null
            ? drainRatio >= 0.25
            : throughputRatio !== null && throughputRatio < 0.25
              ? false
              : null,
    },
    {
      target: 'worker RSS <= 512 MiB with 10,000 room workflows open',
      measured: memory
        ? `${memory.worker_rss_mib} MiB RSS (peak ${memory.worker_hwm_mib} MiB) with ${memory.workflows_touched} rooms in ${memory.open_room_workflows ?? '?'} open workflows (routing ${routingOf(options)})`
        : 'memory phase not run',
      // Only per-room routing opens a workflow per room; with fewer workflows the figure answers a different question.
      met: memory && (memory.open_room_workflows ?? 0) >= 10_000 ? memory.worker_rss_mib <= 512 : null,
    },
  ];
}

/** Every room has a workflow of its own; the report names how changes reach it, so runs compare. */
function routingOf(options: BenchOptions): string {
  return `per-room, ${options.delivery} deliveries`;
}

/** The run as latest.json holds it; the documented keys come first. */
export function buildSummary(input: ReportInput) {
  const ours = summarizeDesign(input.ours);
  const baseline = input.baseline ? summarizeDesign(input.baseline) : null;
  const fixed = ours.fixed?.latency;
  const rampRatio = ratio(ours.max_sustained_per_s, baseline?.max_sustained_per_s);
  const drainRatio = ratio(input.drain.ours?.per_s, input.drain.baseline?.per_s);
  // The ramp's maxima compare the designs only when the baseline, not the generator, capped its ramp.
  const rampDecides = rampRatio !== null && baseline?.max_is_lower_bound === false;
  const throughputRatio = rampDecides || drainRatio === null ? rampRatio : drainRatio;
  return {
    routing: routingOf(input.options),
    rate_target: input.options.rate,
    duration_s: input.options.durationS,
    rooms: input.options.rooms,
    p50_ms: fixed?.p50_ms ?? null,
    p95_ms: fixed?.p95_ms ?? null,
    p99_ms: fixed?.p99_ms ?? null,
    max_ms: fixed?.max_ms ?? null,
    max_sustained_per_s: ours.max_sustained_per_s,
    p99_ms_at_max: ours.at_max?.latency.p99_ms ?? null,
    backlog_growing: ours.backlog_growing_at_max,
    worker_peak_rss_mib: mib(input.peaksKiB.worker),
    baseline: baseline
      ? {
          max_sustained_per_s: baseline.max_sustained_per_s,
          p99_ms: baseline.at_max?.latency.p99_ms ?? null,
          max_is_lower_bound: baseline.max_is_lower_bound,
          first_unsustained_per_s: baseline.first_unsustained_per_s,
          p50_ms_fixed: baseline.fixed?.latency.p50_ms ?? null,
          p99_ms_fixed: baseline.fixed?.latency.p99_ms ?? null,
          max_ms_fixed: baseline.fixed?.latency.max_ms ?? null,
          peak_rss_mib: mib(input.peaksKiB.baseline),
        }
      : null,
    throughput_ratio_to_baseline: throughputRatio,
    /** Which maxima the ratio compares: the ramp's, or (the generator capping the ramp) the drain's. */
    throughput_ratio_basis: rampDecides || drainRatio === null ? 'ramp' : 'drain',
    drain: { ours: input.drain.ours, baseline: input.drain.baseline, throughput_ratio_to_baseline: drainRatio },
    latency_ratio_to_baseline: {
      p50_fixed: ratio(fixed?.p50_ms, baseline?.fixed?.latency.p50_ms),
      p99_fixed: ratio(fixed?.p99_ms, baseline?.fixed?.latency.p99_ms),
      p99_at_max: ratio(ours.at_max?.latency.p99_ms, baseline?.at_max?.latency.p99_ms),
    },
    first_unsustained_per_s: ours.first_unsustained_per_s,
    workflows: input.memory
      ? {
          touched: input.memory.workflows_touched,
          open_room_workflows: input.memory.open_room_workflows,
          worker_rss_mib: input.memory.worker_rss_mib,
          worker_hwm_mib: input.memory.worker_hwm_mib,
          temporal_rss_mib: input.memory.temporal_rss_mib,
          opened: input.memory.opened,
          opening_s: input.memory.opening_s,
          opened_per_s: input.memory.opened_per_s,
          cpu_ms_per_opened_workflow: input.memory.cpu_ms_per_opened_workflow,
        }
      : null,
    idle_cpu_cores: { ours: input.idle.ours?.cores ?? null, baseline: input.idle.baseline?.cores ?? null },
    peak_rss_mib: { worker: mib(input.peaksKiB.worker), connectors: mib(input.peaksKiB.connectors), temporal: mib(input.peaksKiB.temporal), baseline: mib(input.peaksKiB.baseline) },
    cost: {
      ours_fixed: cost(ours.fixed),
      ours_at_max: cost(ours.at_max),
      baseline_fixed: cost(baseline?.fixed ?? null),
      baseline_at_max: cost(baseline?.at_max ?? null),
    },
    targets: targets(input, ours, baseline, rampRatio, drainRatio),
    machine: input.machine,
    options: input.options,
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    wall_s: Math.round((input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
    steps: [
      ...(ours.fixed ? [ours.fixed] : []),
      ...ours.ramp,
      ...ours.holds,
      ...(baseline?.fixed ? [baseline.fixed] : []),
      ...(baseline?.ramp ?? []),
    ],
  };
}

export type BenchSummary = ReturnType<typeof buildSummary>;
