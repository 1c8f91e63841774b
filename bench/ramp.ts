import type { Target } from './applied-feed.js';
import { say } from './progress.js';
import type { StepResult } from './results.js';
import { runStep, type StepRig, type StepSpec } from './step.js';

export type StepFactory = (target: Target, phase: 'fixed' | 'ramp' | 'hold' | 'drain' | 'age' | 'overload' | 'cold', rate: number) => StepSpec;

export function describeStep(result: StepResult): string {
  const { latency } = result;
  return (
    `${result.label}: ${result.changes} changes at ${result.achieved_per_s}/s; p50 ${latency.p50_ms} p95 ${latency.p95_ms} p99 ${latency.p99_ms} max ${latency.max_ms} ms; ` +
    `backlog slope ${result.backlog.slope_per_s}/s (max ${result.backlog.max}); drained in ${result.drain_s}s; ${result.verdict}; ` +
    `other load ${result.other_load_cores} cores${result.unreliable ? ' (UNRELIABLE)' : ''}`
  );
}

/**
 * Offers each rate in turn, from the lowest, until a step is not sustained; `settle`
 * runs between steps so a step that fell behind does not leave its backlog to the next.
 */
export async function runRamp(rig: StepRig, target: Target, rates: readonly number[], makeStep: StepFactory, settle: () => Promise<void>): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const rate of rates) {
    const result = await runStep(rig, makeStep(target, 'ramp', rate));
    say(describeStep(result));
    results.push(result);
    await settle();
    if (!result.sustained) break;
  }
  return results;
}

/**
 * The baseline's ramp: from `start`, double the offered rate until a step is not
 * sustained (or `top` is passed), then halve the gap between the last sustained and
 * the first unsustained rate `refinements` times.
 */
export async function runDoublingRamp(
  rig: StepRig,
  target: Target,
  start: number,
  top: number,
  refinements: number,
  makeStep: StepFactory,
  settle: () => Promise<void>,
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const run = async (rate: number) => {
    const result = await runStep(rig, makeStep(target, 'ramp', rate));
    say(describeStep(result));
    results.push(result);
    await settle();
    return result.sustained;
  };
  let good = 0;
  let bad: number | null = null;
  for (let rate = start; rate <= top; rate *= 2) {
    if (await run(rate)) good = rate;
    else {
      bad = rate;
      break;
    }
  }
  for (let n = 0; n < refinements && bad !== null && good > 0 && bad - good > Math.max(10, good * 0.1); n++) {
    const rate = Math.round((good + bad) / 2 / 10) * 10;
    if (await run(rate)) good = rate;
    else bad = rate;
  }
  return results;
}

export function highestSustained(steps: readonly StepResult[]): StepResult | null {
  return steps.filter((step) => step.sustained).reduce<StepResult | null>((best, step) => (best === null || step.offered_per_s > best.offered_per_s ? step : best), null);
}

/**
 * Holds the highest sustained ramp rate for the hold duration; if its backlog grows
 * there, holds the next lower sustained rate once. Returns every hold run.
 */
export async function runHolds(rig: StepRig, ramp: readonly StepResult[], makeStep: StepFactory, settle: () => Promise<void>, target: Target = 'ours'): Promise<StepResult[]> {
  const sustained = ramp.filter((step) => step.sustained).map((step) => step.offered_per_s).sort((a, b) => b - a);
  const holds: StepResult[] = [];
  for (const rate of sustained.slice(0, 2)) {
    const result = await runStep(rig, makeStep(target, 'hold', rate));
    say(describeStep(result));
    holds.push(result);
    await settle();
    if (result.sustained) break;
  }
  return holds;
}
