import type { Target } from './applied-feed.js';
import type { GeneratedChange, GeneratorRun } from './load-generator.js';
import { componentNames, type ComponentName, type LagReading, type Snapshot } from './monitor.js';
import type { PhaseKind, StepResult, TimelinePoint } from './results.js';
import { ascending, mean, percentile, slope, summarize } from './stats.js';

export interface StepMeasurements {
  readonly label: string;
  readonly target: Target;
  readonly phase: PhaseKind;
  readonly warmupS: number;
  readonly run: GeneratorRun;
  readonly changes: readonly GeneratedChange[];
  /** Before the load, when the generator stopped, after the drain. */
  readonly before: Snapshot;
  readonly loadEnd: Snapshot;
  readonly after: Snapshot;
  readonly lag: readonly LagReading[];
  readonly drainS: number;
  readonly components: readonly ComponentName[];
  readonly slotPrefix: string;
  /** Each component's CPU use with no load, in cores. */
  readonly idleCores: Readonly<Partial<Record<ComponentName, number>>>;
  /** Sustained only with p99 at or under this. */
  readonly maxP99Ms: number;
  /** Other load above this many cores makes the step unreliable. */
  readonly maxOtherLoad: number;
}

/** Backlog growth beyond this share of the offered rate per second marks a step as not sustained. */
const growthShare = 0.02;
/** Cursor lag growing faster than this (s per s) while above a second also does. */
const cursorGrowth = 0.05;

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const mib = (kib: number) => round(kib / 1024, 1);

function backlogSeries(changes: readonly GeneratedChange[], fromUs: number, toUs: number): { t: number; backlog: number }[] {
  const starts = ascending(changes.map((change) => change.startUs));
  const applied = ascending(changes.map((change) => change.appliedUs ?? Number.POSITIVE_INFINITY));
  const series: { t: number; backlog: number }[] = [];
  let started = 0;
  let done = 0;
  for (let t = fromUs; t <= toUs; t += 1_000_000) {
    while (started < starts.length && (starts[started] ?? Infinity) <= t) started += 1;
    while (done < applied.length && (applied[done] ?? Infinity) <= t) done += 1;
    series.push({ t, backlog: started - done });
  }
  return series;
}

function timeline(changes: readonly GeneratedChange[], firstUs: number, lastUs: number): TimelinePoint[] {
  const backlog = backlogSeries(changes, firstUs, lastUs);
  const bySecond = new Map<number, number[]>();
  for (const change of changes) {
    if (change.appliedUs === null) continue;
    const second = Math.floor((change.startUs - firstUs) / 1_000_000);
    const list = bySecond.get(second) ?? [];
    list.push((change.appliedUs - change.startUs) / 1000);
    bySecond.set(second, list);
  }
  return backlog.map(({ t, backlog: value }, index) => {
    const latencies = ascending(bySecond.get(index) ?? []);
    const pick = (p: number) => (latencies.length === 0 ? null : round(percentile(latencies, p), 1));
    return { t_s: round((t - firstUs) / 1_000_000, 1), backlog: value, p50_ms: pick(50), p99_ms: pick(99), max_ms: latencies.length === 0 ? null : round(latencies.at(-1) ?? 0, 1) };
  });
}

function scatter(changes: readonly GeneratedChange[], firstUs: number, maxPoints = 500): [number, number][] {
  const step = Math.max(1, Math.ceil(changes.length / maxPoints));
  const points: [number, number][] = [];
  for (let index = 0; index < changes.length; index += step) {
    const change = changes[index];
    if (change?.appliedUs == null) continue;
    points.push([round((change.startUs - firstUs) / 1_000_000, 2), round((change.appliedUs - change.startUs) / 1000, 1)]);
  }
  return points;
}

/** Changes reflected in each window of `windowS` seconds from the step's first change (per second). */
function appliedPerWindow(changes: readonly GeneratedChange[], firstUs: number, windowS: number): number[] {
  const counts: number[] = [];
  for (const change of changes) {
    if (change.appliedUs === null) continue;
    const index = Math.max(0, Math.floor((change.appliedUs - firstUs) / (windowS * 1_000_000)));
    while (counts.length <= index) counts.push(0);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts.map((count) => round(count / windowS, 1));
}

/** Turns one step's raw measurements into its result and verdict. */
export function analyzeStep(m: StepMeasurements): StepResult {
  const { changes, run } = m;
  const firstUs = changes.reduce((min, change) => Math.min(min, change.startUs), Number.POSITIVE_INFINITY);
  const lastUs = changes.reduce((max, change) => Math.max(max, change.startUs), 0);
  const windowStartUs = firstUs + m.warmupS * 1_000_000;
  const steady = changes.filter((change) => change.startUs >= windowStartUs);
  const latencies = steady.filter((change) => change.appliedUs !== null).map((change) => ((change.appliedUs ?? 0) - change.startUs) / 1000);
  const unapplied = changes.filter((change) => change.appliedUs === null).length;

  const series = Number.isFinite(firstUs) ? backlogSeries(changes, windowStartUs, lastUs) : [];
  const backlogSlope = slope(series.map((point) => ({ x: point.t / 1_000_000, y: point.backlog })));
  const backlogGrowing = backlogSlope > Math.max(growthShare * run.offeredPerS, 1);

  const windowStartMs = windowStartUs / 1000;
  const inWindow = m.lag.filter((reading) => reading.atMs >= windowStartMs && reading.atMs <= m.loadEnd.atMs);
  let cursorMax: number | null = null;
  let cursorSlope: number | null = null;
  if (m.target === 'ours') {
    const worst = inWindow.map((reading) => ({ x: reading.atMs / 1000, y: Math.max(0, ...Object.values(reading.cursorLagS).map((lag) => lag ?? 0)) }));
    cursorMax = worst.length === 0 ? null : round(Math.max(...worst.map((point) => point.y)));
    cursorSlope = worst.length < 2 ? null : round(slope(worst), 3);
  }
  const cursorGrowing = cursorSlope !== null && cursorMax !== null && cursorSlope > cursorGrowth && cursorMax > 1;
  const slotLags = inWindow.flatMap((reading) => Object.entries(reading.slotLagBytes).filter(([slot]) => slot.startsWith(m.slotPrefix)).map(([, lag]) => lag));

  const achievedOk = run.achievedPerS >= 0.95 * run.offeredPerS;
  const latencySummary = summarize(latencies);
  const p99TooHigh = latencies.length > 0 && latencySummary.p99_ms > m.maxP99Ms;
  const sustained = !backlogGrowing && !cursorGrowing && unapplied === 0 && run.failed === 0 && achievedOk && !p99TooHigh;
  const reasons: string[] = [];
  if (backlogGrowing) reasons.push(`backlog grew ${round(backlogSlope, 1)}/s`);
  if (cursorGrowing) reasons.push(`cursor lag grew ${cursorSlope ?? 0} s/s`);
  if (unapplied > 0) reasons.push(`${unapplied} changes not reflected after the drain`);
  if (run.failed > 0) reasons.push(`${run.failed} source writes failed`);
  if (p99TooHigh) reasons.push(`p99 ${latencySummary.p99_ms} ms over ${m.maxP99Ms} ms`);
  if (!achievedOk) reasons.push(`generator offered only ${round(run.achievedPerS, 0)}/s`);

  const committed = Math.max(1, run.committed);
  const cpuS: Partial<Record<ComponentName, number>> = {};
  const cpuPerChange: Partial<Record<ComponentName, number>> = {};
  const marginal: Partial<Record<ComponentName, number>> = {};
  const wallS = (m.after.atMs - m.before.atMs) / 1000;
  const rss: Partial<Record<ComponentName, number>> = {};
  for (const name of componentNames) {
    if (!m.components.includes(name)) continue;
    const seconds = m.after.cpuSeconds[name] - m.before.cpuSeconds[name];
    cpuS[name] = round(seconds);
    cpuPerChange[name] = round((seconds * 1000) / committed, 3);
    marginal[name] = round((Math.max(0, seconds - (m.idleCores[name] ?? 0) * wallS) * 1000) / committed, 3);
    rss[name] = mib(m.after.rssKiB[name]);
  }
  let benchCpu = 0;
  for (const name of componentNames) benchCpu += m.after.cpuSeconds[name] - m.before.cpuSeconds[name];
  const otherCores = Math.max(0, (m.after.machineBusyS - m.before.machineBusyS - benchCpu) / wallS);
  const unifiedXacts = m.after.xactCommit.unified - m.before.xactCommit.unified - (m.after.benchUnifiedTransactions - m.before.benchUnifiedTransactions);
  const sourceXacts = m.after.xactCommit.legacy + m.after.xactCommit.cloud - m.before.xactCommit.legacy - m.before.xactCommit.cloud;
  const sortedLatencies = ascending(latencies);

  return {
    label: m.label,
    target: m.target,
    phase: m.phase,
    started_at: new Date(m.before.atMs).toISOString(),
    offered_per_s: run.offeredPerS,
    achieved_per_s: round(run.achievedPerS, 1),
    seconds: round(run.seconds, 1),
    changes: run.committed,
    failed_writes: run.failed,
    conflict_share: round(changes.filter((change) => change.conflict).length / committed, 3),
    latency: latencySummary,
    unapplied,
    backlog: {
      slope_per_s: round(backlogSlope, 2),
      mean: round(mean(series.map((point) => point.backlog)), 1),
      max: Math.max(0, ...series.map((point) => point.backlog)),
      end: series.at(-1)?.backlog ?? 0,
      growing: backlogGrowing,
    },
    cursor_lag_s: { max: cursorMax, slope_per_s: cursorSlope, growing: cursorGrowing },
    slot_lag_max_bytes: slotLags.length === 0 ? null : Math.max(...slotLags),
    drain_s: round(m.drainS, 1),
    sustained,
    generator_bound: !achievedOk && !backlogGrowing && !cursorGrowing && unapplied === 0 && run.failed === 0 && !p99TooHigh,
    verdict: sustained ? 'sustained' : `not sustained: ${reasons.join('; ')}`,
    cpu_s: cpuS,
    cpu_ms_per_change: cpuPerChange,
    cpu_ms_per_change_net_of_idle: marginal,
    wall_s: round(wallS, 1),
    other_load_cores: round(otherCores),
    unreliable: otherCores > m.maxOtherLoad,
    applied_per_10s: Number.isFinite(firstUs) ? appliedPerWindow(changes, firstUs, 10) : [],
    unified_xacts_per_change: round(unifiedXacts / committed, 3),
    source_xacts_per_change: round(sourceXacts / committed, 3),
    rss_mib_at_end: rss,
    timeline: Number.isFinite(firstUs) ? timeline(changes, firstUs, lastUs) : [],
    scatter: Number.isFinite(firstUs) ? scatter(changes, firstUs) : [],
    quantiles_ms: Array.from({ length: 201 }, (_, index) => round(percentile(sortedLatencies, index / 2), 1)),
  };
}
