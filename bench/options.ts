import { parseArgs } from 'node:util';
import { roomRunBatches, roomRunEventsPerBatch } from '../src/workflows/messages.js';

export interface BenchOptions {
  /** Rooms the load touches (both sources have every one of them). */
  readonly rooms: number;
  readonly hotels: number;
  /** The fixed offered rate, changes per second, for the latency figures. */
  readonly rate: number;
  /** Seconds of load at the fixed rate. */
  readonly durationS: number;
  /** Share of changes that leave the two sources disagreeing on the field they change. */
  readonly conflictShare: number;
  /** Share of changes that go to the hot rooms. */
  readonly skew: number;
  /** Share of rooms that are hot. */
  readonly hotRoomShare: number;
  /** Share of changes written to legacy; the rest go to cloud. */
  readonly legacyShare: number;
  /** Offered rates of the stepped ramp, ascending. */
  readonly ramp: readonly number[];
  readonly stepS: number;
  /** Seconds per baseline ramp step (its latency is milliseconds: a flat backlog shows quickly). */
  readonly baselineStepS: number;
  /** Seconds at the start of each step left out of the steady window. */
  readonly warmupS: number;
  /** Seconds at the highest sustained rate to confirm it and measure its latency; 0 uses the ramp step. */
  readonly holdS: number;
  /** Seconds with no load, to measure each design's idle CPU. */
  readonly idleS: number;
  /** Changes written while the consumers are stopped, then timed as they drain; 0 skips. */
  readonly drainChanges: number;
  /** Room workflows open for the memory figure; 0 skips that phase. */
  readonly workflows: number;
  readonly baseline: boolean;
  /** Upserts in flight per source in the naive baseline (per-room order kept). */
  readonly baselineConcurrency: number;
  /** Connections per source the load generator writes through. */
  readonly generatorConnections: number;
  /** CONNECTOR_MAX_IN_FLIGHT for our connectors; unset keeps the project default. */
  readonly connectorMaxInFlight: number | null;
  /** CONNECTOR_DELIVERY for our connectors: signal (the default) or update. */
  readonly delivery: 'signal' | 'update';
  /** WORKER_MAX_CACHED_WORKFLOWS for our worker; unset keeps the project default. */
  readonly workerCache: number | null;
  readonly seed: number;
  readonly quick: boolean;
  /** Also write this run to bench/results/reference/. */
  readonly saveReference: boolean;
  readonly keepDatabases: boolean;
  /** Write V8 CPU profiles of the worker and connectors to .data/bench/profiles. */
  readonly profile: boolean;
  /** Which designs run: ours, the design's floor (bench/floor), the naive baseline. */
  readonly targets: readonly BenchTarget[];
  /** Which phases run (the ramp covers the fixed rate, the ramp, the hold and the drain). */
  readonly phases: readonly BenchPhase[];
  /** A step is sustained only with its p99 at or under this (ms). */
  readonly maxP99Ms: number;
  /** A step during which the rest of the machine used more cores than this is unreliable. */
  readonly maxOtherLoad: number;
  /** The age phase: offered rate, seconds per configuration, past months attached and rows per month and table. */
  readonly ageRate: number;
  readonly ageS: number;
  readonly ageMonths: number;
  readonly ageRowsPerMonth: number;
  /** The overload phase: seconds of load; the rate (null: twice the highest sustained rate). */
  readonly overloadS: number;
  readonly overloadRate: number | null;
  /** The cold-start phase: the rate under which the worker is killed, history events each room's run holds first, seconds of load before the kill. */
  readonly coldRate: number;
  readonly coldFillEvents: number;
  readonly coldBeforeKillS: number;
  /** Temporal for our pipeline: the dev server (one process, SQLite), or `room-sync cluster` with two room workers and a monitor worker. */
  readonly temporal: 'dev' | 'cluster';
}

export const benchTargets = ['ours', 'floor', 'baseline'] as const;
export type BenchTarget = (typeof benchTargets)[number];
/** The cold phase fills every room's run half full before the worker is killed. */
const halfRunEvents = (roomRunBatches * roomRunEventsPerBatch) / 2;

export const benchPhases = ['ramp', 'age', 'overload', 'cold', 'memory'] as const;
export type BenchPhase = (typeof benchPhases)[number];

const usage = `npm run bench -- [options]

  --rooms N              rooms under load (default 2000; --quick 500)
  --hotels N             hotels they belong to (default 50; --quick 20)
  --rate R               fixed offered rate, changes/s, for the latency figures (default 100)
  --duration S           seconds at the fixed rate (default 60)
  --conflicts F          share of changes that make the sources disagree (default 0.3)
  --skew F               share of changes that hit the hot rooms (default 0.2)
  --hot-rooms F          share of rooms that are hot (default 0.02)
  --legacy-share F       share of changes written to legacy, the rest to cloud (default 0.5)
  --ramp R1,R2,...       offered rates of the stepped ramp (default 20,30,40,50,75,100,150,...,3200; --quick 20,40,80,160)
  --step S               seconds per ramp step (default 25)
  --baseline-step S      seconds per step of the baseline's doubling ramp (default 12)
  --warmup S             seconds of each step before its steady window (default 7)
  --hold S               seconds at the highest sustained rate (default 120; --quick 0: use the ramp step)
  --idle S               seconds of no load to measure idle CPU (default 15)
  --drain N              changes written with the consumers stopped, then timed as they drain (default 20000; --quick 3000; 0 skips)
  --targets LIST         designs to run, of ours,floor,baseline (default all three; the floor is bench/floor, the design's minimum)
  --phases LIST          phases to run, of ramp,age,overload,cold,memory (default all; ramp = fixed rate, ramp, hold and drain;
                         floor and baseline run the ramp only)
  --max-p99 MS           a step is sustained only with p99 <= MS (default 1000)
  --max-other-load C     a step while the rest of the machine used more than C cores is unreliable (default 0.2);
                         --save-reference is refused when any step is
  --age-rate R           age phase: offered rate (default 50)
  --age-duration S       age phase: seconds at each configuration, 1 month then 84 months (default 60)
  --age-months N         age phase: monthly audit partitions attached and filled (default 84: seven years)
  --age-rows N           age phase: generated rows per month in each audit table (default 3000)
  --overload-duration S  overload phase: seconds of load (default 120)
  --overload-rate R      overload phase: offered rate (default twice the highest sustained rate, else twice --age-rate)
  --cold-rate R          cold-start phase: rate under which the worker is killed and restarted (default 50)
  --cold-fill-events N   cold-start phase: history events each room's run holds first (default: half of a run, about 5 events per batch)
  --cold-before-kill S   cold-start phase: seconds of load before the kill (default 20)
  --workflows N          grow to this many rooms (each opens its room's workflow in per-room routing) and read the worker's memory (default 10000; 0 skips)
  --no-baseline          skip the naive baseline
  --baseline-concurrency N  upserts in flight per source in the baseline (default 8)
  --generator-connections N connections per source for the load generator (default 8)
  --connector-max-in-flight N  CONNECTOR_MAX_IN_FLIGHT for our connectors (default: project default)
  --delivery signal|update     CONNECTOR_DELIVERY: signal-with-start (default) or update-with-start
  --worker-cache N       WORKER_MAX_CACHED_WORKFLOWS for our worker (default: project default)
  --seed N               workload seed (default 42)
  --quick                short run for development: 500 rooms, short steps, no hold, only the ramp phase (unless --phases)
  --save-reference       also write the results to bench/results/reference/
  --keep-databases       leave the rs_bench_* databases after the run
  --profile              write V8 CPU profiles of the worker and connectors to .data/bench/profiles
  --temporal dev|cluster Temporal for our pipeline: the dev server (default), or room-sync cluster (frontend, matching,
                         worker service, two history hosts on Postgres) with two room workers, a monitor worker and a
                         standby connector per source; adds CPU per change per Temporal service and persistence writes`;

const defaultRamp = [20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200];
const quickRamp = [20, 40, 80, 160];

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

function number(value: string | undefined, fallback: number, name: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) throw new OptionsError(`--${name} must be a number in [${min}, ${max}], got ${value}`);
  return parsed;
}

function rampOf(value: string | undefined, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  const rates = value.split(',').map((part) => Number(part.trim()));
  if (rates.length === 0 || rates.some((rate) => !Number.isFinite(rate) || rate <= 0)) throw new OptionsError(`--ramp must list positive rates, got ${value}`);
  return rates.sort((a, b) => a - b);
}


function deliveryOf(value: string | undefined): 'signal' | 'update' {
  if (value === undefined || value === 'signal' || value === 'update') return value ?? 'signal';
  throw new OptionsError(`--delivery must be signal or update, got ${value}`);
}

function listOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string, fallback: readonly T[]): T[] {
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
  if (items.length === 0 || unknown.length > 0) throw new OptionsError(`--${name} takes a comma-separated list of ${allowed.join(', ')}; got ${value}`);
  return allowed.filter((item) => items.includes(item));
}

function temporalOf(value: string | undefined): 'dev' | 'cluster' {
  if (value === undefined || value === 'dev' || value === 'cluster') return value ?? 'dev';
  throw new OptionsError(`--temporal must be dev or cluster, got ${value}`);
}

/** Parses the command line; `null` when only the usage was asked for. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rooms: { type: 'string' },
      hotels: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      conflicts: { type: 'string' },
      skew: { type: 'string' },
      'hot-rooms': { type: 'string' },
      'legacy-share': { type: 'string' },
      ramp: { type: 'string' },
      step: { type: 'string' },
      'baseline-step': { type: 'string' },
      warmup: { type: 'string' },
      hold: { type: 'string' },
      workflows: { type: 'string' },
      drain: { type: 'string' },
      idle: { type: 'string' },
      'no-baseline': { type: 'boolean', default: false },
      'baseline-concurrency': { type: 'string' },
      'generator-connections': { type: 'string' },
      'connector-max-in-flight': { type: 'string' },
      delivery: { type: 'string' },
      'worker-cache': { type: 'string' },
      seed: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'save-reference': { type: 'boolean', default: false },
      'keep-databases': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      targets: { type: 'string' },
      phases: { type: 'string' },
      'max-p99': { type: 'string' },
      'max-other-load': { type: 'string' },
      'age-rate': { type: 'string' },
      'age-duration': { type: 'string' },
      'age-months': { type: 'string' },
      'age-rows': { type: 'string' },
      'overload-duration': { type: 'string' },
      'overload-rate': { type: 'string' },
      'cold-rate': { type: 'string' },
      'cold-fill-events': { type: 'string' },
      'cold-before-kill': { type: 'string' },
      temporal: { type: 'string', default: 'dev' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return null;
  }
  const quick = values.quick;
  const rooms = number(values.rooms, quick ? 500 : 2000, 'rooms', { min: 10, max: 1_000_000 });
  const targets = listOf(values.targets, benchTargets, 'targets', benchTargets).filter((target) => !(target === 'baseline' && values['no-baseline']));
  const options: BenchOptions = {
    rooms,
    hotels: number(values.hotels, quick ? 20 : 50, 'hotels', { min: 1, max: rooms }),
    rate: number(values.rate, 100, 'rate', { min: 1 }),
    durationS: number(values.duration, quick ? 10 : 60, 'duration', { min: 5 }),
    conflictShare: number(values.conflicts, 0.3, 'conflicts', { max: 1 }),
    skew: number(values.skew, 0.2, 'skew', { max: 1 }),
    hotRoomShare: number(values['hot-rooms'], 0.02, 'hot-rooms', { max: 1 }),
    legacyShare: number(values['legacy-share'], 0.5, 'legacy-share', { max: 1 }),
    ramp: rampOf(values.ramp, quick ? quickRamp : defaultRamp),
    stepS: number(values.step, quick ? 10 : 25, 'step', { min: 4 }),
    baselineStepS: number(values['baseline-step'], quick ? 6 : 12, 'baseline-step', { min: 4 }),
    warmupS: number(values.warmup, quick ? 3 : 7, 'warmup', { min: 0 }),
    holdS: number(values.hold, quick ? 0 : 120, 'hold', { min: 0 }),
    idleS: number(values.idle, quick ? 5 : 15, 'idle', { min: 1 }),
    drainChanges: number(values.drain, quick ? 3_000 : 20_000, 'drain', { min: 0, max: 1_000_000 }),
    workflows: number(values.workflows, quick ? 0 : 10_000, 'workflows', { min: 0 }),
    baseline: targets.includes('baseline'),
    baselineConcurrency: number(values['baseline-concurrency'], 8, 'baseline-concurrency', { min: 1, max: 64 }),
    generatorConnections: number(values['generator-connections'], 8, 'generator-connections', { min: 1, max: 64 }),
    delivery: deliveryOf(values.delivery),
    connectorMaxInFlight: values['connector-max-in-flight'] === undefined ? null : number(values['connector-max-in-flight'], 64, 'connector-max-in-flight', { min: 1, max: 10_000 }),
    workerCache: values['worker-cache'] === undefined ? null : number(values['worker-cache'], 2000, 'worker-cache', { min: 2 }),
    seed: number(values.seed, 42, 'seed'),
    quick,
    saveReference: values['save-reference'],
    keepDatabases: values['keep-databases'],
    profile: values.profile,
    targets,
    phases: listOf(values.phases, benchPhases, 'phases', quick ? ['ramp'] : benchPhases),
    maxP99Ms: number(values['max-p99'], 1000, 'max-p99', { min: 1 }),
    maxOtherLoad: number(values['max-other-load'], 0.2, 'max-other-load', { min: 0 }),
    ageRate: number(values['age-rate'], 50, 'age-rate', { min: 1 }),
    ageS: number(values['age-duration'], quick ? 20 : 60, 'age-duration', { min: 5 }),
    ageMonths: number(values['age-months'], 84, 'age-months', { min: 1, max: 240 }),
    ageRowsPerMonth: number(values['age-rows'], 3000, 'age-rows', { min: 0, max: 1_000_000 }),
    overloadS: number(values['overload-duration'], quick ? 30 : 120, 'overload-duration', { min: 10 }),
    overloadRate: values['overload-rate'] === undefined ? null : number(values['overload-rate'], 100, 'overload-rate', { min: 1 }),
    coldRate: number(values['cold-rate'], 50, 'cold-rate', { min: 1 }),
    coldFillEvents: number(values['cold-fill-events'], halfRunEvents, 'cold-fill-events', { min: 0 }),
    coldBeforeKillS: number(values['cold-before-kill'], quick ? 10 : 20, 'cold-before-kill', { min: 5 }),
    temporal: temporalOf(values.temporal),
  };
  if (options.warmupS >= Math.min(options.stepS, options.baselineStepS)) throw new OptionsError('--warmup must be shorter than --step and --baseline-step');
  return options;
}
