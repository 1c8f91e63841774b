// `npm run bench`: end-to-end latency, sustained throughput and cost of room-sync,
// next to the naive design, in one run on the bench's own databases and Temporal server.
import { runDrain, waitForActiveSlots, type DrainResult } from './drain.js';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { projectRoot } from '../src/setup/source-schemas.js';
import { temporalCliPath } from '../src/setup/temporal.js';
import { AppliedFeed, type Target } from './applied-feed.js';
import { Baseline } from './baseline.js';
import { addRooms, buildCatalog } from './catalog.js';
import { adminUrl, applicationNames, benchDataDir, databaseUrl } from './config.js';
import { dropBenchDatabases, recreateBenchDatabases } from './databases.js';
import { LatencyMatcher } from './latency-matcher.js';
import { LoadGenerator, type GeneratedChange } from './load-generator.js';
import { describeMachine, describeMachineLine } from './machine.js';
import { runMemoryPhase } from './memory-phase.js';
import { Monitor, type ComponentName } from './monitor.js';
import { OptionsError, parseOptions, type BenchOptions } from './options.js';
import { OurPipeline, waitUntil } from './our-pipeline.js';
import { summarizeDesign } from './summary.js';
import { Progress, say } from './progress.js';
import { describeStep, highestSustained, runDoublingRamp, runHolds, runRamp, type StepFactory } from './ramp.js';
import { buildReport, printTable, writeReport } from './report.js';
import { ClusterMeter, formatClusterCosts, type ClusterStepCost } from './cluster-meter.js';
import { writeFile } from 'node:fs/promises';
import { benchDatabaseNames, resultsRoot } from './config.js';
import type { MemoryResult, StepResult } from './results.js';
import { Rng } from './rng.js';
import { RunLock } from './run-lock.js';
import { insertCloudRooms, insertHotels, insertLegacyRooms } from './seed.js';
import { measureIdle, runStep, type StepRig } from './step.js';
import { Workload } from './workload.js';
import { runAgePhase, type AgeResult } from './age-phase.js';
import { runColdPhase, type ColdResult } from './cold-phase.js';
import { runOverloadPhase, type OverloadResult } from './overload-phase.js';
import { FloorTarget, floorDataDir } from './floor/floor-target.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function stepSeed(seed: number, label: string): number {
  let hash = seed >>> 0;
  for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

/** Set when --save-reference was refused (an unreliable step): the run then exits non-zero. */
let referenceRefused = false;

async function bench(options: BenchOptions): Promise<void> {
  const startedAt = new Date();
  await mkdir(benchDataDir, { recursive: true });
  await mkdir(floorDataDir, { recursive: true });
  const lock = RunLock.acquire();
  for (const log of ['worker', 'connector-legacy', 'connector-cloud', 'baseline-legacy', 'baseline-cloud']) await rm(join(benchDataDir, `${log}.log`), { force: true });

  say(`recreating the bench databases ${Object.values(benchDatabaseNames).join(', ')}`);
  await recreateBenchDatabases(say);
  const admin = new pg.Pool({ connectionString: adminUrl(), max: 2, application_name: applicationNames.monitor });
  const unified = new pg.Pool({ connectionString: databaseUrl('unified'), max: 2, application_name: applicationNames.monitor });
  const generatorPool = (source: 'legacy' | 'cloud') =>
    new pg.Pool({ connectionString: databaseUrl(source), max: options.generatorConnections, application_name: applicationNames.generator });
  const sources = { legacy: generatorPool('legacy'), cloud: generatorPool('cloud') };

  const profileDir = options.profile ? join(benchDataDir, 'profiles') : null;
  if (profileDir !== null) await mkdir(profileDir, { recursive: true });
  const pipeline = new OurPipeline({ connectorMaxInFlight: options.connectorMaxInFlight, delivery: options.delivery, workerCache: options.workerCache, profileDir, log: say, onSpawn: (pid) => lock.add(pid), temporal: options.temporal });
  const baseline = new Baseline(options.baselineConcurrency, (pid) => lock.add(pid));
  const floor = new FloorTarget((pid) => lock.add(pid), say);
  const matchers: Record<Target, LatencyMatcher> = { ours: new LatencyMatcher(), baseline: new LatencyMatcher(), floor: new LatencyMatcher() };
  const feed = new AppliedFeed(unified, (target, row) => matchers[target].addApplied(row));
  const monitor = new Monitor(admin, unified, () => feed.transactions);
  let feeding = true;
  let lastDelivery = Date.now();
  const feedLoop = (async () => {
    while (feeding) {
      try {
        if ((await feed.poll()) > 0) lastDelivery = Date.now();
      } catch (error) {
        say(`reading bench_applied failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      await sleep(250);
    }
  })();

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await pipeline.stop().catch(() => undefined);
    await floor.stop().catch(() => undefined);
    await baseline.stop().catch(() => undefined);
  };
  const onSignal = () => {
    say('interrupted: stopping the bench processes');
    void shutdown().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const machine = await describeMachine(admin, temporalCliPath(projectRoot));
    say(`machine: ${describeMachineLine(machine)}`);
    const catalog = buildCatalog(options.hotels);
    addRooms(catalog, options.rooms);
    await insertHotels(sources.legacy, sources.cloud, catalog.hotels);
    await insertLegacyRooms(sources.legacy, catalog.rooms);
    await insertCloudRooms(sources.cloud, catalog.rooms);
    say(`seeded ${options.hotels} hotels and ${options.rooms} rooms in both sources`);

    const runs = (target: 'ours' | 'floor' | 'baseline') => options.targets.includes(target);
    const phase = (name: BenchOptions['phases'][number]) => options.phases.includes(name);
    monitor.start();
    let sink: (change: GeneratedChange) => void = () => undefined;
    const generator = new LoadGenerator(sources, options.generatorConnections * 2, (change) => sink(change));
    const pgComponents: ComponentName[] = ['postgres', 'generator_postgres', 'bench'];
    const rig: StepRig = {
      generator,
      monitor,
      matchers,
      progress: new Progress(monitor),
      setChangeSink: (next) => (sink = next),
      components: { ours: ['temporal', 'worker', 'connectors', ...pgComponents], floor: ['temporal', 'worker', 'connectors', ...pgComponents], baseline: ['baseline', ...pgComponents] },
      slotPrefix: { ours: 'room_sync_', floor: 'bench_floor_', baseline: 'bench_baseline_' },
      idle: {},
      limits: { maxP99Ms: options.maxP99Ms, maxOtherLoad: options.maxOtherLoad },
    };
    /** Until nothing new has been applied for 3 s (bounded): a step that fell behind must not leak into the next. */
    const settle = async () => {
      const deadline = Date.now() + 180_000;
      await sleep(1_000);
      while (Date.now() - lastDelivery < 3_000 && Date.now() < deadline) await sleep(250);
    };
    const makeStep: StepFactory = (target, kind, rate) => {
      const rampStep = target === 'baseline' ? options.baselineStepS : options.stepS;
      const seconds = kind === 'fixed' ? options.durationS : kind === 'hold' ? options.holdS : rampStep;
      const workload = new Workload(catalog, options.rooms, options, new Rng(stepSeed(options.seed, `${kind === 'hold' ? 'ramp' : kind}-${rate}`)));
      return {
        label: `${target} ${kind} ${rate}/s`,
        target,
        phase: kind,
        rate,
        seconds,
        warmupS: kind === 'fixed' ? Math.min(5, options.warmupS) : Math.min(options.warmupS, Math.round(seconds / 3)),
        plan: (now) => workload.next(now),
        drainTimeoutS: Math.max(60, seconds * 2),
      };
    };
    const empty = { fixed: null, ramp: [] as StepResult[], holds: [] as StepResult[] };
    let oursRuns: { fixed: StepResult | null; ramp: StepResult[]; holds: StepResult[] } = empty;
    let oursDrain: DrainResult | null = null;
    let age: AgeResult | null = null;
    let overload: OverloadResult | null = null;
    let cold: ColdResult | null = null;
    let memory: MemoryResult | null = null;
    let oursPeaks = { worker: 0, connectors: 0, temporal: 0 };
    let clusterMeter: ClusterMeter | null = null;

    if (runs('ours')) {
      await pipeline.startTemporal();
      await pipeline.startWorker();
      // On the cluster, 'temporal' is every service process and 'worker' every worker process; the cluster meter splits them.
      monitor.track('temporal', pipeline.temporalPids);
      if (pipeline.cluster) monitor.trackDatabases('temporal', [pipeline.cluster.databases.main, pipeline.cluster.databases.visibility]);
      monitor.track('worker', pipeline.workerPids);
      clusterMeter = pipeline.cluster ? new ClusterMeter(admin, pipeline.cluster, pipeline.clusterPids) : null;
      clusterMeter?.start();
      say('worker polling; starting both connectors (snapshot of the seeded rooms)');
      const snapshotStarted = Date.now();
      await pipeline.startConnectors(unified, options.rooms);
      monitor.track('connectors', pipeline.connectorPids);
      say(`snapshots reflected in the unified view after ${((Date.now() - snapshotStarted) / 1000).toFixed(1)}s`);

      // Ours: idle cost, the fixed rate, the ramp, the hold at its highest sustained rate, the drain; then the age, overload, cold-start and memory phases.
      await settle();
      rig.idle.ours = await measureIdle(rig, 'ours', options.idleS);
      say(`idle CPU (cores): ${JSON.stringify(rig.idle.ours.cores)}`);
      if (phase('ramp')) {
        const oursFixed = await runStep(rig, makeStep('ours', 'fixed', options.rate));
        say(describeStep(oursFixed));
        await settle();
        const oursRamp = await runRamp(rig, 'ours', options.ramp, makeStep, settle);
        const oursHolds = options.holdS > 0 ? await runHolds(rig, oursRamp, makeStep, settle) : [];
        oursRuns = { fixed: oursFixed, ramp: oursRamp, holds: oursHolds };
        oursDrain =
          options.drainChanges > 0
            ? await runDrain(rig, makeStep, 'ours', options.drainChanges, {
                stop: () => pipeline.stopConnectors(),
                start: async () => {
                  await pipeline.startConnectors(unified, options.rooms);
                  await waitForActiveSlots(admin, rig.slotPrefix.ours, 2);
                  monitor.track('connectors', pipeline.connectorPids);
                },
              })
            : null;
        if (oursDrain) await settle();
      }
      const oursMax = summarizeDesign(oursRuns).max_sustained_per_s;
      const oursSustained = summarizeDesign(oursRuns).backlog_growing_at_max ? null : oursMax;
      if (phase('age')) {
        age = await runAgePhase(rig, makeStep, settle, unified, { rate: options.ageRate, seconds: options.ageS, months: options.ageMonths, rowsPerMonth: options.ageRowsPerMonth });
      }
      if (phase('overload')) {
        const rate = options.overloadRate ?? 2 * (oursSustained ?? options.ageRate);
        overload = await runOverloadPhase(rig, makeStep, unified, pipeline.metricsUrl, { rate, sustained: options.overloadRate === null ? oursSustained : null, seconds: options.overloadS });
        await settle();
      }
      if (phase('cold')) {
        const client = pipeline.client();
        if (!client) throw new Error('cold phase: no Temporal connection');
        cold = await runColdPhase({
          rig,
          makeStep,
          settle,
          client,
          catalog,
          options,
          fillRate: oursSustained ?? options.coldRate,
          killWorker: () => pipeline.killWorker(),
          startWorker: async () => {
            await pipeline.startWorker();
            const pid = pipeline.workerPid;
            if (pid !== null) monitor.track('worker', [pid]);
          },
        });
      }
      if (phase('memory') && options.workflows > 0) {
        memory = await runMemoryPhase({ monitor, pipeline, catalog, legacy: sources.legacy, unified, components: rig.components.ours }, options.workflows, 1_200);
      }
      if (clusterMeter) {
        await clusterMeter.stop();
        const meter = clusterMeter;
        const steps = [oursRuns.fixed, ...oursRuns.ramp, ...oursRuns.holds].filter((step): step is StepResult => step !== null);
        const costs = steps.map((step) => meter.costOf(step)).filter((cost): cost is ClusterStepCost => cost !== null);
        process.stdout.write(`\n${formatClusterCosts(costs)}\n\n`);
        await mkdir(resultsRoot, { recursive: true });
        const file = join(resultsRoot, `cluster-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
        await writeFile(file, `${JSON.stringify({ startedAt, layout: { ...pipeline.cluster, postgres: undefined }, costs }, null, 2)}\n`);
        say(`cluster figures: ${file}`);
      }
      await monitor.snapshot();
      oursPeaks = { worker: monitor.memory('worker').peakKiB, connectors: monitor.memory('connectors').peakKiB, temporal: monitor.memory('temporal').peakKiB };
      say('stopping our pipeline (connectors, worker, Temporal)');
      await pipeline.stop();
      for (const component of ['temporal', 'worker', 'connectors'] as const) monitor.track(component, []);
    }

    // The design's floor: same sources, generator and step seeds; its own Temporal server started as ours is.
    let floorRuns: { fixed: StepResult | null; ramp: StepResult[]; holds: StepResult[] } | null = null;
    const floorPeaks = { worker: 0, temporal: 0 };
    if (runs('floor') && phase('ramp')) {
      say('starting the floor: its Temporal dev server, worker and senders (bench/floor)');
      await floor.start(admin);
      const floorTemporal = floor.temporalPid;
      const floorWorker = floor.workerPid;
      monitor.trackDatabases('temporal', []);
      if (floorTemporal !== null) monitor.track('temporal', [floorTemporal]);
      if (floorWorker !== null) monitor.track('worker', [floorWorker]);
      monitor.track('connectors', floor.senderPids);
      const retrack = setInterval(() => {
        if (floor.takeRestarted()) monitor.track('connectors', floor.senderPids);
      }, 500);
      // One change to every room first, so each room's workflow is open as ours are after their snapshots.
      const loadRooms = catalog.rooms.slice(0, options.rooms);
      await sources.legacy.query('UPDATE htl_room_inv SET lst_upd_ts = localtimestamp FROM unnest($1::text[], $2::text[]) AS r(hotel, room) WHERE prop_cd = r.hotel AND rm_nbr = r.room', [
        loadRooms.map((room) => room.hotel.code),
        loadRooms.map((room) => room.code),
      ]);
      await waitUntil(
        `the floor's ${options.rooms} room workflows open`,
        600_000,
        async () => ((await unified.query<{ n: number }>('SELECT count(*)::int AS n FROM floor_rooms')).rows[0]?.n ?? 0) >= options.rooms,
        () => null,
      );
      say('floor: every room has its workflow');
      await settle();
      rig.idle.floor = await measureIdle(rig, 'floor', options.idleS);
      say(`idle CPU (cores): ${JSON.stringify(rig.idle.floor.cores)}`);
      const floorFixed = await runStep(rig, makeStep('floor', 'fixed', options.rate));
      say(describeStep(floorFixed));
      await settle();
      const floorRamp = await runRamp(rig, 'floor', options.ramp, makeStep, settle);
      const floorHolds = options.holdS > 0 ? await runHolds(rig, floorRamp, makeStep, settle, 'floor') : [];
      floorRuns = { fixed: floorFixed, ramp: floorRamp, holds: floorHolds };
      await monitor.snapshot();
      floorPeaks.worker = monitor.memory('worker').peakKiB;
      floorPeaks.temporal = monitor.memory('temporal').peakKiB;
      say('stopping the floor');
      clearInterval(retrack);
      await floor.stop();
      for (const component of ['temporal', 'worker', 'connectors'] as const) monitor.track(component, []);
    }

    // The naive baseline, on the same sources, the same generator and the same step seeds.
    let baselineFixed: StepResult | null = null;
    let baselineRamp: StepResult[] = [];
    let baselineDrain: DrainResult | null = null;
    const runBaseline = runs('baseline') && phase('ramp');
    if (runBaseline) {
      await baseline.start(admin);
      monitor.track('baseline', baseline.pids);

      say('baseline consumers streaming from their own slots');
      rig.idle.baseline = await measureIdle(rig, 'baseline', options.idleS);
      say(`idle CPU (cores): ${JSON.stringify(rig.idle.baseline.cores)}`);
      baselineFixed = await runStep(rig, makeStep('baseline', 'fixed', options.rate));
      say(describeStep(baselineFixed));
      await settle();
      // Doubling from the fixed rate (or our maximum, if higher), then bisections between the last sustained and first failed rates.
      const oursMax = (highestSustained(oursRuns.holds) ?? highestSustained(oursRuns.ramp))?.offered_per_s ?? 0;
      // From half our maximum: a first step the generator cannot quite offer would leave the baseline with no sustained step at all.
      const start = Math.max(Math.round(oursMax / 2), options.rate);
      baselineRamp = await runDoublingRamp(rig, 'baseline', start, Math.max(6_400, 2 * (options.ramp.at(-1) ?? 0)), options.quick ? 1 : 2, makeStep, settle);
      if (options.drainChanges > 0) {
        await settle();
        baselineDrain = await runDrain(rig, makeStep, 'baseline', options.drainChanges, {
          stop: () => baseline.stop(),
          start: async () => {
            await baseline.start(admin, { resume: true });
            monitor.track('baseline', baseline.pids);
          },
        });
      }
      await monitor.snapshot();
      await baseline.stop();
      monitor.track('baseline', []);
    }

    const report = buildReport({
      options,
      machine,
      startedAt,
      finishedAt: new Date(),
      ours: oursRuns,
      baseline: runBaseline ? { fixed: baselineFixed, ramp: baselineRamp, holds: [] } : null,
      floor: floorRuns,
      age,
      overload,
      cold,
      memory,
      drain: { ours: oursDrain, baseline: baselineDrain },
      idle: rig.idle,
      peaksKiB: { ...oursPeaks, baseline: monitor.memory('baseline').peakKiB, floor_worker: floorPeaks.worker, floor_temporal: floorPeaks.temporal },
    });
    printTable(report);
    const written = await writeReport(report, options.saveReference);
    say(`results: ${written.join(', ')}`);
    if (options.saveReference && report.unreliable_steps.length > 0) referenceRefused = true;
  } finally {
    await shutdown();
    await monitor.stop();
    feeding = false;
    await feedLoop;
    await Promise.all([sources.legacy.end(), sources.cloud.end(), unified.end(), admin.end()]);
    if (!options.keepDatabases) await dropBenchDatabases().catch((error: unknown) => say(`could not drop the bench databases: ${String(error)}`));
    lock.release();
  }
}

async function main(): Promise<number> {
  let options: BenchOptions | null;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof OptionsError || (error instanceof Error && 'code' in error)) {
      process.stderr.write(`bench: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (options === null) return 0;
  await bench(options);
  return referenceRefused ? 3 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
