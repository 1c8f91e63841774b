import type { BenchOptions } from './options.js';
import { highestSustained } from './ramp.js';
import type { IdleCost } from './step.js';
import type { DrainResult } from './drain.js';
import type { DesignSummary, MachineInfo, MemoryResult, StepResult, TargetCheck } from './results.js';
import type { AgeResult } from './age-phase.js';
import type { ColdResult } from './cold-phase.js';
import type { OverloadResult } from './overload-phase.js';

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
  /** The design's floor (bench/floor): same workload, same Temporal server flags, default worker. */
  readonly floor: DesignRuns | null;
  readonly age: AgeResult | null;
  readonly overload: OverloadResult | null;
  readonly cold: ColdResult | null;
  readonly memory: MemoryResult | null;
  readonly drain: { readonly ours: DrainResult | null; readonly baseline: DrainResult | null };
  readonly idle: Partial<Record<'ours' | 'baseline' | 'floor', IdleCost>>;
  readonly peaksKiB: Readonly<Record<'worker' | 'connectors' | 'temporal' | 'baseline' | 'floor_worker' | 'floor_temporal', number>>;
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

const perChangeComponents = ['temporal', 'worker', 'connectors', 'postgres'] as const;

/** Ours against the floor, step by step (same phase and offered rate): CPU ms per change by component, and ours/floor. */
export function floorComparison(ours: readonly StepResult[], floor: readonly StepResult[]) {
  return floor.flatMap((floorStep) => {
    const oursStep = [...ours].reverse().find((step) => step.phase === floorStep.phase && step.offered_per_s === floorStep.offered_per_s);
    if (!oursStep) return [];
    const figures = (step: StepResult) => ({ ...Object.fromEntries(perChangeComponents.map((name) => [name, step.cpu_ms_per_change[name] ?? 0])), total: totalCpuMsPerChange(step) ?? 0 }) as Record<(typeof perChangeComponents)[number] | 'total', number>;
    const o = figures(oursStep);
    const f = figures(floorStep);
    const ratios = Object.fromEntries((['total', ...perChangeComponents] as const).map((name) => [name, ratio(o[name], f[name])])) as Record<(typeof perChangeComponents)[number] | 'total', number | null>;
    return [
      {
        phase: floorStep.phase,
        offered_per_s: floorStep.offered_per_s,
        ours: o,
        floor: f,
        ratio: ratios,
        p99_ms: { ours: oursStep.latency.p99_ms, floor: floorStep.latency.p99_ms },
        sustained: { ours: oursStep.sustained, floor: floorStep.sustained },
        unreliable: oursStep.unreliable || floorStep.unreliable,
      },
    ];
  });
}

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

function floorTargets(input: ReportInput, ours: DesignSummary, floor: DesignSummary | null, comparison: ReturnType<typeof floorComparison>): TargetCheck[] {
  const at = (rate: number) => comparison.find((row) => row.offered_per_s === rate && row.phase === 'ramp') ?? comparison.find((row) => row.offered_per_s === rate);
  const cpuTarget = (rate: number): TargetCheck => {
    const row = at(rate);
    return {
      target: `CPU per change at ${rate}/s offered <= 1.2 x the floor's (total, Temporal, worker)`,
      measured: row ? `ours/floor total ${row.ratio.total ?? '?'}, temporal ${row.ratio.temporal ?? '?'}, worker ${row.ratio.worker ?? '?'} (${row.phase} step)${row.unreliable ? ' UNRELIABLE' : ''}` : 'no step of both at that rate',
      met: row ? [row.ratio.total, row.ratio.temporal, row.ratio.worker].every((value) => value !== null && value <= 1.2) : null,
    };
  };
  const ours50 = [...ours.ramp, ...(ours.fixed ? [ours.fixed] : [])].find((step) => step.offered_per_s === 50);
  const sustainedRatio = ratio(ours.max_sustained_per_s, floor?.max_sustained_per_s);
  const { age, overload, cold } = input;
  return [
    cpuTarget(50),
    cpuTarget(100),
    {
      target: 'age: CPU per change with 84 monthly partitions within 5% of 1 partition',
      measured: age ? `${age.cpu_ms_per_change.one_month ?? '?'} -> ${age.cpu_ms_per_change.aged ?? '?'} ms (x${age.cpu_ms_per_change.ratio ?? '?'}), ${age.months_with_rows} months` : 'age phase not run',
      met: age && age.cpu_ms_per_change.ratio !== null && age.months_with_rows >= 84 ? age.cpu_ms_per_change.ratio <= 1.05 : null,
    },
    {
      target: 'highest sustained rate (flat backlog, p99 <= 1 s) >= 0.9 x the floor\'s',
      measured: floor ? `${ours.max_sustained_per_s ?? 0}/s vs ${floor.max_sustained_per_s ?? 0}/s = ${sustainedRatio ?? '?'}` : 'floor not run',
      met: sustainedRatio === null ? null : sustainedRatio >= 0.9,
    },
    {
      target: 'p99 at 50/s <= 250 ms',
      measured: ours50 ? `p99 ${ours50.latency.p99_ms} ms (${ours50.label})` : 'no step at 50/s',
      met: ours50 ? ours50.latency.p99_ms <= 250 : null,
    },
    {
      target: 'overload at 2 x sustained: applied >= 0.9 x sustained throughout; 0 workflow task timeouts; lag pages; drains at >= sustained',
      measured: overload
        ? `applied/s per 10 s ${overload.applied_per_s_during_load.join(', ')} (min/sustained ${overload.min_applied_ratio_to_sustained ?? '?'}); task timeouts+failures ${overload.workflow_task_trouble_total ?? '?'}; ` +
          `${overload.paged ? 'paged' : 'no page'}; drain ${overload.drain_per_s ?? '?'}/s`
        : 'overload phase not run',
      met:
        overload && overload.sustained_per_s !== null
          ? (overload.min_applied_ratio_to_sustained ?? 0) >= 0.9 && overload.workflow_task_trouble_total === 0 && overload.paged && (overload.drain_per_s ?? 0) >= overload.sustained_per_s
          : null,
    },
    {
      target: 'cold start under 50/s, runs at least half full: unified view current within 60 s',
      measured: cold ? `${cold.current_after_s ?? 'not'} s; ${cold.replayed_events_per_s ?? '?'} replayed events/s; runs held ${cold.run_events.min}+ events (target ${cold.fill_target_events})` : 'cold phase not run',
      met: cold ? cold.current_after_s !== null && cold.current_after_s <= 60 && cold.run_events.min >= cold.fill_target_events : null,
    },
  ];
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
  const floor = input.floor ? summarizeDesign(input.floor) : null;
  const oursSteps = [...(ours.fixed ? [ours.fixed] : []), ...ours.ramp, ...ours.holds];
  const floorSteps = floor ? [...(floor.fixed ? [floor.fixed] : []), ...floor.ramp, ...floor.holds] : [];
  const comparison = floorComparison(oursSteps, floorSteps);
  const phaseSteps = [
    ...(input.age ? [input.age.one_month, input.age.aged] : []),
    ...(input.overload ? [input.overload.step] : []),
    ...(input.cold ? [input.cold.step] : []),
  ];
  const allSteps = [...oursSteps, ...phaseSteps, ...floorSteps, ...(baseline?.fixed ? [baseline.fixed] : []), ...(baseline?.ramp ?? [])];
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
    floor: floor
      ? {
          max_sustained_per_s: floor.max_sustained_per_s,
          p99_ms_at_max: floor.at_max?.latency.p99_ms ?? null,
          backlog_growing_at_max: floor.backlog_growing_at_max,
          first_unsustained_per_s: floor.first_unsustained_per_s,
          p99_ms_fixed: floor.fixed?.latency.p99_ms ?? null,
          peak_rss_mib: { worker: mib(input.peaksKiB.floor_worker), temporal: mib(input.peaksKiB.floor_temporal) },
        }
      : null,
    /** ours / the floor, highest sustained rate. */
    sustained_ratio_to_floor: ratio(ours.max_sustained_per_s, floor?.max_sustained_per_s),
    /** Per step at the same phase and rate: CPU ms per change, ours, the floor, ours/floor. */
    floor_comparison: comparison,
    age: input.age ? { ...input.age, one_month: input.age.one_month.label, aged: input.age.aged.label } : null,
    overload: input.overload ? { ...input.overload, step: input.overload.step.label } : null,
    cold: input.cold ? { ...input.cold, step: input.cold.step.label } : null,
    /** Steps during which the rest of the machine used more than --max-other-load cores. */
    unreliable_steps: allSteps.filter((step) => step.unreliable).map((step) => `${step.label} (${step.other_load_cores} cores)`),
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
    idle_cpu_cores: { ours: input.idle.ours?.cores ?? null, floor: input.idle.floor?.cores ?? null, baseline: input.idle.baseline?.cores ?? null },
    peak_rss_mib: { worker: mib(input.peaksKiB.worker), connectors: mib(input.peaksKiB.connectors), temporal: mib(input.peaksKiB.temporal), baseline: mib(input.peaksKiB.baseline) },
    cost: {
      ours_fixed: cost(ours.fixed),
      ours_at_max: cost(ours.at_max),
      baseline_fixed: cost(baseline?.fixed ?? null),
      baseline_at_max: cost(baseline?.at_max ?? null),
    },
    targets: [...floorTargets(input, ours, floor, comparison), ...targets(input, ours, baseline, rampRatio, drainRatio)],
    machine: input.machine,
    options: input.options,
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    wall_s: Math.round((input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
    steps: allSteps,
  };
}

export type BenchSummary = ReturnType<typeof buildSummary>;
