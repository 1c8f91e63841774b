import type pg from 'pg';
import { say } from './progress.js';
import type { StepFactory } from './ramp.js';
import type { Target } from './applied-feed.js';
import { runStep, type StepRig } from './step.js';

export interface DrainResult {
  readonly changes: number;
  /** From the consumers streaming again to the last change reflected. */
  readonly drain_s: number;
  readonly per_s: number;
  readonly unapplied: number;
}

/** Offered far above what the generator reaches: it writes as fast as it can. */
const generatorFlatOut = 100_000;

/**
 * Consumer throughput without the generator in the way: with the design's consumers
 * stopped, write `changes` changes as fast as the generator can (they wait in the slots'
 * WAL), start the consumers, and time how long they take to reflect every one. On a
 * machine where the generator, not the design, caps the ramp, this is the figure that
 * compares the designs.
 */
export async function runDrain(
  rig: StepRig,
  makeStep: StepFactory,
  target: Target,
  changes: number,
  consumers: { readonly stop: () => Promise<void>; readonly start: () => Promise<void> },
): Promise<DrainResult> {
  say(`${target} drain: consumers stopped; writing ${changes} changes as fast as the generator can`);
  await consumers.stop();
  const base = makeStep(target, 'drain', generatorFlatOut);
  const result = await runStep(rig, {
    ...base,
    label: `${target} drain ${changes}`,
    seconds: 600,
    maxWrites: changes,
    warmupS: 0,
    drainTimeoutS: 600,
    onLoadEnd: async () => {
      say(`${target} drain: ${changes} changes waiting; starting the consumers`);
      await consumers.start();
    },
  });
  const drained = result.changes - result.unapplied;
  const drain: DrainResult = {
    changes: result.changes,
    drain_s: result.drain_s,
    per_s: result.drain_s > 0 ? Math.round(drained / result.drain_s) : 0,
    unapplied: result.unapplied,
  };
  say(`${target} drain: ${drained} changes reflected in ${drain.drain_s}s after the consumers streamed: ${drain.per_s}/s${drain.unapplied > 0 ? ` (${drain.unapplied} never reflected)` : ''}`);
  return drain;
}

/** Until `count` slots named with the prefix are streaming: the drain is timed from there. */
export async function waitForActiveSlots(admin: pg.Pool, prefix: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await admin.query<{ active: number }>(
      "SELECT count(*)::int AS active FROM pg_replication_slots WHERE slot_name LIKE $1 || '%' AND active AND database LIKE 'rs_bench_%'",
      [prefix],
    );
    if ((rows[0]?.active ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`${count} ${prefix}* slots were not streaming within ${timeoutMs / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
