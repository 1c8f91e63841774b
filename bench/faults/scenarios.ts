import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SourceName } from '../../src/domain/room.js';
import { readMemory } from '../proc-stats.js';
import type { ChildService } from '../children.js';
import { waitUntil } from '../our-pipeline.js';
import type { LedgerCounts } from './audit-ledger.js';
import { FaultRig, type RigOptions } from './rig.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ScenarioSettings {
  readonly prefix: string;
  readonly rate: number;
  readonly hotels: number;
  readonly rooms: number;
  readonly seed: number;
  /** Load before the fault, and after it ends, in seconds. */
  readonly warmupS: number;
  readonly afterS: number;
  readonly convergeTimeoutS: number;
  /** How long the timed faults last (5: source unreachable, 7: unified read-only); the two minutes and one minute by default. */
  readonly sourceOutageS: number;
  readonly readOnlyS: number;
  readonly soakMinutes: number;
  /** Node options for the worker processes (`--worker-node-option`, e.g. --trace-gc). */
  readonly workerNodeOptions?: readonly string[];
  readonly keepDatabases: boolean;
  /** The Temporal the pipeline runs on: the dev server, or `room-sync cluster` (the cluster scenarios). */
  readonly temporal?: 'dev' | 'cluster';
  readonly log: (message: string) => void;
}

/** What a fault did: when it was over (the recovery time runs from there) and what is worth saying about it. */
interface FaultEffect {
  readonly endedAt: number;
  readonly notes: string[];
  /** Asked for but not achieved (a process that should have survived died, a page for the wrong source): the row fails. */
  readonly failures: string[];
}

interface ScenarioContext {
  readonly rig: FaultRig;
  readonly settings: ScenarioSettings;
  readonly say: (message: string) => void;
}

export interface Scenario {
  readonly id: number;
  readonly name: string;
  /** After the standard pipeline started and before the load. */
  prepare?(context: ScenarioContext): Promise<void>;
  /** The fault, with the load running. */
  inject(context: ScenarioContext): Promise<FaultEffect>;
  /** Checks once everything converged (pages resolved, a room marked as left). */
  verify?(context: ScenarioContext, effect: FaultEffect): Promise<void>;
}

export interface ScenarioRow {
  readonly id: number;
  readonly scenario: string;
  readonly committed: number;
  readonly applied: number;
  readonly auditExpected: number;
  readonly auditFound: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Audit rows of writes whose statement failed yet committed (a crash mid-commit): counted in found, neither lost nor duplicated. */
  readonly uncertain: number;
  readonly unexpected: number;
  readonly currentAgainS: number | null;
  readonly pagesSent: number;
  readonly pagesResolved: number;
  readonly converged: boolean;
  readonly failedWrites: number;
  readonly notes: readonly string[];
  readonly failures: readonly string[];
  readonly rssSlopeMiBPerHour?: { readonly worker: number | null; readonly connectors: number | null };
  /** RSS at the end of each minute of the soak: whether it plateaus or keeps climbing, which a slope alone does not say. */
  readonly rssMiBByMinute?: { readonly worker: readonly number[]; readonly connectors: readonly number[] };
  readonly seconds: number;
}

export function rowPassed(row: ScenarioRow): boolean {
  return row.converged && row.lost === 0 && row.duplicated === 0 && row.unexpected === 0 && row.failures.length === 0;
}

function childOf(rig: FaultRig, name: string): ChildService {
  const child = rig.processes.find((candidate) => candidate.name === name && candidate.running);
  if (!child) throw new Error(`no running ${name}`);
  return child;
}

/** Every process of the pipeline that should still run is running (a fault must not take down what it did not kill). */
function survivors(rig: FaultRig, names: readonly string[]): string[] {
  return names.filter((name) => !rig.processes.some((child) => child.name === name && child.running)).map((name) => `${name} is not running`);
}

async function restartPostgres(say: (message: string) => void): Promise<number> {
  say('crash restart of PostgreSQL (pg_ctlcluster 15 main restart -m immediate): every session on this server drops');
  const started = Date.now();
  await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', '15', 'main', 'restart', '-m', 'immediate'], { timeout: 120_000 });
  return Date.now() - started;
}

async function walRetainedBytes(rig: FaultRig, source: SourceName): Promise<number | null> {
  const { rows } = await rig.admin.query<{ retained: string | null }>(
    'SELECT (pg_current_wal_lsn() - restart_lsn)::bigint::text AS retained FROM pg_replication_slots WHERE slot_name = $1',
    [rig.slotName(source)],
  );
  return rows[0]?.retained === undefined || rows[0].retained === null ? null : Number(rows[0].retained);
}

async function unifiedReadOnly(rig: FaultRig, seconds: number, say: (message: string) => void): Promise<void> {
  const database = rig.names.unified;
  say(`unified database ${database} read-only for ${seconds}s (default_transaction_read_only; a full disk refuses writes the same way)`);
  await rig.admin.query(`ALTER DATABASE "${database}" SET default_transaction_read_only = on`);
  try {
    await rig.terminateSessions('unified');
    await sleep(seconds * 1_000);
  } finally {
    await rig.admin.query(`ALTER DATABASE "${database}" RESET default_transaction_read_only`);
    // Sessions opened meanwhile keep the read-only default: they must reconnect.
    await rig.terminateSessions('unified');
  }
}

async function sourceUnreachable(rig: FaultRig, source: SourceName, seconds: number, say: (message: string) => void): Promise<number> {
  const database = rig.names[source];
  say(`${source} source unreachable for ${seconds}s (ALLOW_CONNECTIONS false, the pipeline's sessions terminated; the load keeps writing through its open connections)`);
  let maxRetained = 0;
  await rig.admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
  try {
    await rig.terminateSessions(source);
    const until = Date.now() + seconds * 1_000;
    while (Date.now() < until) {
      maxRetained = Math.max(maxRetained, (await walRetainedBytes(rig, source)) ?? 0);
      await sleep(Math.min(5_000, Math.max(0, until - Date.now())));
    }
  } finally {
    await rig.admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
  }
  return maxRetained;
}

async function killTemporalAndRestart(rig: FaultRig, say: (message: string) => void): Promise<number> {
  say('kill -9 of the Temporal server; restarting it on the same SQLite file and ports in 2 s');
  rig.killTemporal();
  await sleep(2_000);
  await rig.startTemporal();
  return Date.now();
}

const mib = (bytes: number) => (bytes / 1_048_576).toFixed(1);

export const scenarios: readonly Scenario[] = [
  {
    id: 1,
    name: 'worker kill -9, restart after 5 s',
    async inject({ rig, say }) {
      say('kill -9 of the worker; restarting it in 5 s');
      await rig.kill(childOf(rig, 'worker'));
      await sleep(5_000);
      const spawned = Date.now();
      await rig.startWorker('worker');
      const polling = Date.now();
      return { endedAt: polling, notes: [`restarted worker polling ${((polling - spawned) / 1000).toFixed(1)} s after its spawn; recovery measured from then`], failures: [] };
    },
  },
  {
    id: 2,
    name: 'legacy connector kill -9, restart',
    async inject({ rig, say }) {
      say('kill -9 of the legacy connector; restarting it at once');
      await rig.kill(childOf(rig, 'connector-legacy'));
      const spawned = Date.now();
      rig.startConnector('legacy');
      await rig.waitForStreaming('legacy');
      return { endedAt: spawned, notes: [`restarted connector streaming ${((Date.now() - spawned) / 1000).toFixed(1)} s after its spawn; recovery measured from the spawn`], failures: [] };
    },
  },
  {
    id: 3,
    name: 'Temporal server kill -9, restart',
    async inject({ rig, say }) {
      const ready = await killTemporalAndRestart(rig, say);
      return { endedAt: ready, notes: ['worker and connectors not restarted'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...survivors(rig, ['worker', 'connector-legacy', 'connector-cloud']));
    },
  },
  {
    id: 4,
    name: 'PostgreSQL crash restart (immediate)',
    async inject({ say }) {
      const tookMs = await restartPostgres(say);
      return { endedAt: Date.now(), notes: [`pg_ctlcluster restart took ${(tookMs / 1000).toFixed(1)} s`], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...survivors(rig, ['worker', 'connector-legacy', 'connector-cloud']));
    },
  },
  {
    id: 5,
    name: 'legacy source unreachable, then back',
    async inject({ rig, settings, say }) {
      const retained = await sourceUnreachable(rig, 'legacy', settings.sourceOutageS, say);
      return { endedAt: Date.now(), notes: [`legacy slot WAL retained up to ${mib(retained)} MiB`], failures: [] };
    },
    async verify({ rig, say }, effect) {
      say('waiting for the legacy page to resolve');
      await waitUntil('the pages to resolve', 180_000, async () => {
        const pages = await rig.pages();
        return pages.sent === pages.resolved;
      }, () => null).catch((error: unknown) => effect.failures.push(error instanceof Error ? error.message : String(error)));
      const pages = await rig.pages();
      if (pages.sent === 0) effect.failures.push('no page for the unreachable source');
      // The other source must stay quiet; a page about the monitor's own checks (it cannot read legacy) is fair.
      if (pages.sources.includes('cloud')) effect.failures.push('paged for cloud too');
      effect.notes.push(`paged for: ${pages.sources.join(', ') || 'nothing'}`);
    },
  },
  {
    id: 6,
    name: 'cloud replication slot dropped, a cloud DELETE in the gap',
    async inject({ rig, settings, say }) {
      // A dropped slot loses the WAL it held: only a snapshot can follow, and it sees each row's latest value
      // alone. The load pauses and drains first, so that every committed change still has exactly one audit row.
      await rig.stopLoad();
      await rig.converge(settings.convergeTimeoutS * 1_000, () => undefined);
      const leaving = rig.catalog.rooms.find((room) => !room.busy);
      if (!leaving) throw new Error('no room to delete');
      leaving.busy = true;
      say(`dropping the cloud slot ${rig.slotName('cloud')} (walsender terminated first); deleting ${leaving.hotel.code}/${leaving.code} from cloud in the gap`);
      await waitUntil('the cloud slot dropped', 30_000, async () => {
        await rig.admin.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [rig.slotName('cloud')]);
        await rig.admin.query('SELECT pg_drop_replication_slot($1)', [rig.slotName('cloud')]);
        return true;
      }, () => null);
      await rig.cloudDelete(leaving.cloudId);
      rig.startLoad();
      const endedAt = Date.now();
      try {
        await rig.waitForStreaming('cloud', 120_000);
      } catch {
        return { endedAt, notes: [], failures: ['the cloud connector did not recreate its slot (expected until the connector re-snapshots by itself)'] };
      }
      const left = await rig.waitForLeft(leaving.hotel.code, leaving.code, 120_000);
      return { endedAt, notes: [], failures: left ? [] : [`${leaving.hotel.code}/${leaving.code} not marked as left cloud`] };
    },
  },
  {
    id: 7,
    name: 'unified database read-only, then writable',
    async inject({ rig, settings, say }) {
      await unifiedReadOnly(rig, settings.readOnlyS, say);
      const endedAt = Date.now();
      // Whatever a connector acknowledged to its slot must be applied: restart both from their slots to prove it.
      say('kill -9 of both connectors and restart: they resume from what they acknowledged');
      for (const source of ['legacy', 'cloud'] as const) {
        await rig.kill(childOf(rig, `connector-${source}`));
        rig.startConnector(source);
      }
      return { endedAt, notes: ['full disk simulated the same way (writes refused)', 'connectors restarted from their slots after'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...survivors(rig, ['worker']));
    },
  },
  {
    id: 8,
    name: 'two legacy connectors; the first killed',
    async inject({ rig, say }) {
      say('a second legacy connector while the first streams: it must wait for the slot');
      const second = rig.startConnector('legacy', 'connector-legacy-2');
      await sleep(15_000);
      const failures: string[] = [];
      if (!second.running) failures.push(`the second connector exited while the slot was in use (see ${second.logPath})`);
      say('kill -9 of the first legacy connector: the second takes over');
      await rig.kill(childOf(rig, 'connector-legacy'));
      const endedAt = Date.now();
      await rig.waitForStreaming('legacy');
      return { endedAt, notes: [`second connector took over the slot ${((Date.now() - endedAt) / 1000).toFixed(1)} s after the kill`], failures };
    },
  },
  {
    id: 9,
    name: 'two workers, one killed',
    async prepare({ rig }) {
      await rig.startWorker('worker-2');
    },
    async inject({ rig, say }) {
      say('kill -9 of one of two workers: the other takes over every room');
      await rig.kill(childOf(rig, 'worker'));
      return { endedAt: Date.now(), notes: ['recovery measured from the kill'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...survivors(rig, ['worker-2']));
    },
  },
];

/** The pipeline and the cluster still up, but for what the fault killed and did not restart. */
async function clusterSurvivors(rig: FaultRig, killed: readonly string[] = []): Promise<string[]> {
  return [...survivors(rig, rig.pipelineNames.filter((name) => !killed.includes(name))), ...(await rig.clusterDown())];
}

/** A cluster process killed with kill -9 and started again after `downS` seconds; the pipeline is not touched. */
function clusterHostScenario(id: number, member: 'history-1' | 'matching' | 'frontend', downS: number, why: string): Scenario {
  return {
    id,
    name: `cluster ${member} kill -9, restart after ${downS} s`,
    async inject({ rig, say }) {
      say(`kill -9 of the cluster's ${member} (${why}); restarting it in ${downS} s`);
      await rig.killClusterMember(member);
      await sleep(downS * 1_000);
      await rig.restartClusterMember(member);
      return { endedAt: Date.now(), notes: [`${member} listening again; recovery measured from then`, 'workers and connectors not restarted'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...(await clusterSurvivors(rig)));
    },
  };
}

/** `npm run faults -- --temporal cluster`: the pipeline laid out as on several machines, against `room-sync cluster`. */
export const clusterScenarios: readonly Scenario[] = [
  clusterHostScenario(11, 'history-1', 20, 'its shards move to the other history host and back'),
  clusterHostScenario(12, 'matching', 2, 'task queues are reloaded from persistence'),
  clusterHostScenario(13, 'frontend', 2, 'workers and connectors must reconnect by themselves'),
  {
    id: 14,
    name: 'cluster: one of two room workers kill -9',
    async inject({ rig, say }) {
      say('kill -9 of one of the two room workers: the other takes its rooms');
      await rig.kill(childOf(rig, 'worker'));
      return { endedAt: Date.now(), notes: ['recovery measured from the kill', 'the killed worker not restarted'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...(await clusterSurvivors(rig, ['worker'])));
    },
  },
  {
    id: 15,
    name: 'cluster: PostgreSQL crash restart (immediate), the cluster persistence on it',
    async inject({ say }) {
      const tookMs = await restartPostgres(say);
      return { endedAt: Date.now(), notes: [`pg_ctlcluster restart took ${(tookMs / 1000).toFixed(1)} s`, 'no process restarted'], failures: [] };
    },
    async verify({ rig }, effect) {
      effect.failures.push(...(await clusterSurvivors(rig)));
    },
  },
];

function describeCounts(counts: LedgerCounts, failedWrites: number): string {
  return `committed ${counts.committed}, applied ${counts.applied}, missing ${counts.missing}, audit rows ${counts.auditRows}, duplicated ${counts.duplicated}, failed writes ${failedWrites}`;
}

function rigOptions(settings: ScenarioSettings, id: number, say: (message: string) => void): RigOptions {
  return {
    prefix: settings.prefix,
    scenario: id,
    hotels: settings.hotels,
    rooms: settings.rooms,
    rate: settings.rate,
    seed: settings.seed,
    temporal: settings.temporal ?? 'dev',
    log: say,
    ...(settings.workerNodeOptions ? { workerNodeOptions: settings.workerNodeOptions } : {}),
  };
}

/** Load progress every five seconds while `work` runs. */
async function withProgress<T>(rig: FaultRig, say: (message: string) => void, work: Promise<T>): Promise<T> {
  const timer = setInterval(() => {
    void rig.counts().then((counts) => say(describeCounts(counts, rig.failedWrites)));
  }, 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

async function finish(rig: FaultRig, context: ScenarioContext, scenario: { id: number; name: string }, started: number, effect: FaultEffect, extra: Partial<ScenarioRow> = {}): Promise<ScenarioRow> {
  const { settings, say } = context;
  say('load stopped; waiting for convergence');
  const { converged } = await rig.converge(settings.convergeTimeoutS * 1_000, (progress) => say(`converging: ${describeCounts(progress, rig.failedWrites)}`));
  const counts = await rig.finalCounts();
  const currentAgainS = converged ? await rig.currentAgain(effect.endedAt, 0) : null;
  const pages = await rig.pages().catch(() => ({ sent: 0, resolved: 0, sources: [] }));
  effect.failures.push(...rig.unexpectedExits());
  return {
    id: scenario.id,
    scenario: scenario.name,
    committed: counts.committed,
    applied: counts.applied,
    auditExpected: counts.committed,
    auditFound: counts.auditRows,
    lost: counts.missing,
    duplicated: counts.duplicated,
    uncertain: counts.uncertainApplied,
    unexpected: counts.unexpected,
    currentAgainS,
    pagesSent: pages.sent,
    pagesResolved: pages.resolved,
    converged,
    failedWrites: rig.failedWrites,
    notes: effect.notes,
    failures: effect.failures,
    seconds: (Date.now() - started) / 1000,
    ...extra,
  };
}

/** One scenario from fresh databases to its row; everything it started is stopped and dropped again. */
export async function runScenario(scenario: Scenario, settings: ScenarioSettings): Promise<ScenarioRow> {
  const say = (message: string) => settings.log(`[${scenario.id}] ${message}`);
  const started = Date.now();
  const rig = new FaultRig(rigOptions(settings, scenario.id, say));
  const context: ScenarioContext = { rig, settings, say };
  try {
    say(
      settings.temporal === 'cluster'
        ? `${scenario.name}: fresh databases, a Temporal cluster of its own (room-sync cluster), two room workers, a monitor worker, a connector and a standby per source`
        : `${scenario.name}: fresh databases, Temporal on its own ports, worker and both connectors`,
    );
    await rig.setUp();
    await rig.startPipeline();
    await scenario.prepare?.(context);
    say(`load ${settings.rate}/s over ${settings.rooms} rooms for ${settings.warmupS} s before the fault`);
    rig.startLoad();
    const effect = await withProgress(rig, say, (async () => {
      await sleep(settings.warmupS * 1_000);
      const done = await scenario.inject(context);
      say(`fault over; load for ${settings.afterS} s more`);
      await sleep(settings.afterS * 1_000);
      return done;
    })());
    await rig.stopLoad();
    const row = await finish(rig, context, scenario, started, effect);
    await scenario.verify?.(context, effect);
    return row;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    say(`failed: ${message}`);
    return finish(rig, context, scenario, started, { endedAt: Date.now(), notes: [], failures: [message] }).catch(() => failedRow(scenario, message, started));
  } finally {
    await rig.tearDown(settings.keepDatabases);
  }
}

function failedRow(scenario: { id: number; name: string }, message: string, started: number): ScenarioRow {
  return {
    id: scenario.id,
    scenario: scenario.name,
    committed: 0,
    applied: 0,
    auditExpected: 0,
    auditFound: 0,
    lost: 0,
    duplicated: 0,
    uncertain: 0,
    unexpected: 0,
    currentAgainS: null,
    pagesSent: 0,
    pagesResolved: 0,
    converged: false,
    failedWrites: 0,
    notes: [],
    failures: [message],
    seconds: (Date.now() - started) / 1000,
  };
}

/** The samples after the first five minutes: start-up, the cache filling and the first continue-as-new are not growth. */
const slopeFromS = 300;
function settled(samples: readonly { readonly atS: number; readonly kib: number }[]) {
  return samples.filter((sample) => sample.atS >= slopeFromS);
}

/** The last sample of each whole minute, in MiB (one decimal). */
export function byMinute(samples: readonly { readonly atS: number; readonly kib: number }[]): number[] {
  const minutes = new Map<number, number>();
  for (const sample of samples) minutes.set(Math.floor(sample.atS / 60), Math.round((sample.kib / 1024) * 10) / 10);
  return [...minutes.entries()].sort(([a], [b]) => a - b).map(([, mib]) => mib);
}

/** Least-squares slope of (seconds, KiB) samples, in MiB per hour; null with fewer than two samples. */
export function slopeMiBPerHour(samples: readonly { readonly atS: number; readonly kib: number }[]): number | null {
  if (samples.length < 2) return null;
  const meanX = samples.reduce((sum, sample) => sum + sample.atS, 0) / samples.length;
  const meanY = samples.reduce((sum, sample) => sum + sample.kib, 0) / samples.length;
  let numerator = 0;
  let denominator = 0;
  for (const sample of samples) {
    numerator += (sample.atS - meanX) * (sample.kib - meanY);
    denominator += (sample.atS - meanX) ** 2;
  }
  if (denominator === 0) return null;
  return ((numerator / denominator) * 3_600) / 1_024;
}

/**
 * Scenario 10: a soak at the given rate with a fault every three minutes, rotating through
 * those that leave the worker and connectors running (so their RSS is one process's
 * throughout): Temporal kill -9, the unified database read-only for 30 s, a source
 * unreachable for 30 s.
 */
export async function runSoak(settings: ScenarioSettings): Promise<ScenarioRow> {
  const scenario = { id: 10, name: `soak ${settings.soakMinutes} min at ${settings.rate}/s, a fault every 3 min` };
  const say = (message: string) => settings.log(`[10] ${message}`);
  const started = Date.now();
  const rig = new FaultRig(rigOptions(settings, 10, say));
  const context: ScenarioContext = { rig, settings, say };
  const samples = { worker: [] as { atS: number; kib: number }[], connectors: [] as { atS: number; kib: number }[] };
  const notes: string[] = [];
  const failures: string[] = [];
  let worstCurrentAgainS = 0;
  try {
    say(`${scenario.name}: fresh databases, Temporal, worker and both connectors`);
    await rig.setUp();
    await rig.startPipeline();
    rig.startLoad();
    const worker = childOf(rig, 'worker');
    const connectors = [childOf(rig, 'connector-legacy'), childOf(rig, 'connector-cloud')];
    const sampler = setInterval(() => {
      const atS = (Date.now() - started) / 1000;
      const workerRss = readMemory(worker.pid)?.rssKiB;
      if (workerRss !== undefined) samples.worker.push({ atS, kib: workerRss });
      const connectorRss = connectors.map((connector) => readMemory(connector.pid)?.rssKiB);
      if (connectorRss.every((value) => value !== undefined)) samples.connectors.push({ atS, kib: connectorRss.reduce<number>((sum, value) => sum + (value ?? 0), 0) });
    }, 10_000);
    const faults: { name: string; run: () => Promise<number> }[] = [
      { name: 'Temporal kill -9', run: () => killTemporalAndRestart(rig, say) },
      { name: 'unified read-only 30 s', run: async () => (await unifiedReadOnly(rig, 30, say), Date.now()) },
      { name: 'cloud source unreachable 30 s', run: async () => (await sourceUnreachable(rig, 'cloud', 30, say), Date.now()) },
    ];
    const endAt = started + settings.soakMinutes * 60_000;
    let next = 0;
    try {
      await withProgress(rig, say, (async () => {
        for (let faultAt = Date.now() + 180_000; faultAt < endAt; faultAt += 180_000) {
          await sleep(faultAt - Date.now());
          const fault = faults[next % faults.length];
          next += 1;
          if (!fault) continue;
          const endedAt = await fault.run();
          const seconds = await rig.currentAgain(endedAt, 300_000);
          notes.push(`${fault.name}: current again after ${seconds === null ? 'never' : seconds.toFixed(1)} s`);
          if (seconds === null) failures.push(`${fault.name}: not current again within 300 s`);
          else worstCurrentAgainS = Math.max(worstCurrentAgainS, seconds);
        }
        await sleep(Math.max(0, endAt - Date.now()));
      })());
    } finally {
      clearInterval(sampler);
    }
    await rig.stopLoad();
    failures.push(...survivors(rig, ['worker', 'connector-legacy', 'connector-cloud']));
    const effect = { endedAt: Date.now(), notes, failures };
    const row = await finish(rig, context, scenario, started, effect, {
      rssSlopeMiBPerHour: { worker: slopeMiBPerHour(settled(samples.worker)), connectors: slopeMiBPerHour(settled(samples.connectors)) },
      rssMiBByMinute: { worker: byMinute(samples.worker), connectors: byMinute(samples.connectors) },
    });
    return { ...row, currentAgainS: next > 0 ? worstCurrentAgainS : row.currentAgainS };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    say(`failed: ${message}`);
    return failedRow(scenario, message, started);
  } finally {
    await rig.tearDown(settings.keepDatabases);
  }
}
