import { analyzeStep } from './analyze.js';
import type { Target } from './applied-feed.js';
import type { LatencyMatcher } from './latency-matcher.js';
import type { GeneratedChange, LoadGenerator } from './load-generator.js';
import type { ComponentName, Monitor } from './monitor.js';
import type { Progress } from './progress.js';
import type { PhaseKind, StepResult } from './results.js';
import type { PlannedWrite } from './workload.js';

export interface StepSpec {
  readonly label: string;
  readonly target: Target;
  readonly phase: PhaseKind;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupS: number;
  readonly plan: (now: number) => PlannedWrite | null;
  readonly maxWrites?: number;
  /** How long to wait, after the load, for every change to be reflected. */
  readonly drainTimeoutS: number;
  /** Runs when the load has ended, before the drain is timed (the drain phase starts its consumers here). */
  readonly onLoadEnd?: () => Promise<void>;
  /** Checked before each write: true ends the load early (the cold-start phase). */
  readonly stopped?: () => boolean;
  /** Handed the step's list of committed changes as it starts (it grows as the load runs). */
  readonly observe?: (changes: readonly GeneratedChange[]) => void;
}

export interface StepRig {
  readonly generator: LoadGenerator;
  readonly monitor: Monitor;
  readonly matchers: Readonly<Record<Target, LatencyMatcher>>;
  readonly progress: Progress;
  /** Where the generator's changes go; the runner points it at the running step. */
  setChangeSink(sink: (change: GeneratedChange) => void): void;
  readonly components: Readonly<Record<Target, readonly ComponentName[]>>;
  readonly slotPrefix: Readonly<Record<Target, string>>;
  /** Each design's idle CPU, once measured (see measureIdle). */
  readonly idle: Partial<Record<Target, IdleCost>>;
  readonly limits: { readonly maxP99Ms: number; readonly maxOtherLoad: number };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** pg_stat_database is flushed by each backend at most once a second. */
const statsSettleMs = 2_000;

export interface IdleCost {
  readonly seconds: number;
  /** CPU seconds per second (cores) each component burns with no load at all. */
  readonly cores: Readonly<Partial<Record<ComponentName, number>>>;
}

/** CPU use with no load: the fixed cost that per-change figures are net of. */
export async function measureIdle(rig: StepRig, target: Target, seconds: number): Promise<IdleCost> {
  const before = await rig.monitor.snapshot();
  await sleep(seconds * 1000);
  const after = await rig.monitor.snapshot();
  const wall = (after.atMs - before.atMs) / 1000;
  const cores: Partial<Record<ComponentName, number>> = {};
  for (const name of rig.components[target]) cores[name] = Math.round(((after.cpuSeconds[name] - before.cpuSeconds[name]) / wall) * 1000) / 1000;
  return { seconds: Math.round(wall * 10) / 10, cores };
}

/** One step: offer load at a rate, wait for it to drain, measure. */
export async function runStep(rig: StepRig, spec: StepSpec): Promise<StepResult> {
  const matcher = rig.matchers[spec.target];
  const changes: GeneratedChange[] = [];
  rig.setChangeSink((change) => {
    changes.push(change);
    matcher.addChange(change);
  });
  spec.observe?.(changes);
  const lagFrom = rig.monitor.lag.length;
  const before = await rig.monitor.snapshot();
  rig.progress.begin(spec.label, spec.rate, spec.seconds, changes, () => matcher.pending, rig.components[spec.target], spec.target === 'ours');
  let drainS = 0;
  let run;
  let loadEnd;
  try {
    run = await rig.generator.run(spec.plan, { rate: spec.rate, seconds: spec.seconds, ...(spec.maxWrites === undefined ? {} : { maxWrites: spec.maxWrites }), ...(spec.stopped ? { stopped: spec.stopped } : {}) });
    await spec.onLoadEnd?.();
    loadEnd = await rig.monitor.snapshot();
    const drainStarted = Date.now();
    while (matcher.pending > 0 && Date.now() - drainStarted < spec.drainTimeoutS * 1000) await sleep(100);
    drainS = (Date.now() - drainStarted) / 1000;
  } finally {
    rig.progress.end();
  }
  await sleep(statsSettleMs);
  const after = await rig.monitor.snapshot();
  matcher.abandonPending();
  return analyzeStep({
    label: spec.label,
    target: spec.target,
    phase: spec.phase,
    warmupS: spec.warmupS,
    run,
    changes,
    before,
    loadEnd,
    after,
    lag: rig.monitor.lag.slice(Math.max(0, lagFrom - 1)),
    drainS,
    components: rig.components[spec.target],
    slotPrefix: rig.slotPrefix[spec.target],
    idleCores: rig.idle[spec.target]?.cores ?? {},
    maxP99Ms: rig.limits.maxP99Ms,
    maxOtherLoad: rig.limits.maxOtherLoad,
  });
}
