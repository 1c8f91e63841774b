import type { Client } from '@temporalio/client';
import { roomWorkflowId } from '../src/routing/room-routing.js';
import type { BenchRoom, Catalog } from './catalog.js';
import type { GeneratedChange } from './load-generator.js';
import type { BenchOptions } from './options.js';
import { say } from './progress.js';
import { describeStep, type StepFactory } from './ramp.js';
import type { StepResult } from './results.js';
import { Rng } from './rng.js';
import { runStep, type StepRig } from './step.js';
import { Workload } from './workload.js';

export interface ColdResult {
  readonly rate: number;
  readonly rooms: number;
  /** History events each room's run was to hold before the kill, and what they held (min, median, sum). */
  readonly fill_target_events: number;
  readonly run_events: { readonly min: number; readonly median: number; readonly total: number };
  readonly fill_changes: number;
  readonly fill_s: number;
  /** From the restart (the new worker spawned) until every change committed before it was reflected. */
  readonly current_after_s: number | null;
  readonly changes_before_restart: number;
  /** Rooms whose workflow had a task after the restart before the view was current, and their runs' events. */
  readonly rooms_replayed: number;
  readonly replayed_events: number;
  readonly replayed_events_per_s: number | null;
  readonly worker_polling_after_s: number;
  readonly step: StepResult;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
/** A change adds about this many events to its room's run (signal, workflow task, marker), until a round measures it. */
const firstEventsPerChange = 5;

/** The history length of each room's current run, read 16 at a time. */
async function runLengths(client: Client, rooms: readonly BenchRoom[]): Promise<Map<BenchRoom, number>> {
  const lengths = new Map<BenchRoom, number>();
  let next = 0;
  const reader = async () => {
    for (let index = next++; index < rooms.length; index = next++) {
      const room = rooms[index];
      if (!room) continue;
      try {
        const description = await client.workflow.getHandle(roomWorkflowId({ hotelCode: room.hotel.code, roomCode: room.code })).describe();
        lengths.set(room, description.historyLength);
      } catch {
        lengths.set(room, 0);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return lengths;
}

export interface ColdContext {
  readonly rig: StepRig;
  readonly makeStep: StepFactory;
  readonly settle: () => Promise<void>;
  readonly client: Client;
  readonly catalog: Catalog;
  readonly options: BenchOptions;
  /** Fill rate: the highest sustained rate when known. */
  readonly fillRate: number;
  readonly killWorker: () => Promise<void>;
  readonly startWorker: () => Promise<void>;
}

/**
 * Every room's run filled to `coldFillEvents` history events (changes driven at the fill
 * rate to the rooms below it), then under `coldRate` the worker is killed (-9) and started
 * again: the time until every change committed before the restart is reflected, and the
 * events replayed per second meanwhile.
 */
export async function runColdPhase(context: ColdContext): Promise<ColdResult> {
  const { rig, makeStep, settle, client, catalog, options } = context;
  const rooms = catalog.rooms.slice(0, options.rooms);
  const fillStarted = Date.now();
  let fillChanges = 0;
  let lengths = await runLengths(client, rooms);
  let eventsPerChange = firstEventsPerChange;
  for (let round_ = 1; round_ <= 12; round_++) {
    const short = rooms.filter((room) => (lengths.get(room) ?? 0) < options.coldFillEvents);
    say(`cold phase: ${rooms.length - short.length}/${rooms.length} room runs hold >= ${options.coldFillEvents} events`);
    if (short.length === 0) break;
    const needed = short.reduce((sum, room) => sum + Math.ceil((options.coldFillEvents - (lengths.get(room) ?? 0)) / eventsPerChange), 0);
    const workload = new Workload(catalog, options.rooms, options, new Rng(options.seed + round_));
    // Each short room as many times as it needs, round-robin: the first pass touches every room once, and so on.
    const queue: BenchRoom[] = [];
    const need = new Map(short.map((room) => [room, Math.ceil((options.coldFillEvents - (lengths.get(room) ?? 0)) / eventsPerChange)]));
    for (let pass = 0; queue.length < needed; pass++) for (const room of short) if ((need.get(room) ?? 0) > pass) queue.push(room);
    let cursor = 0;
    const plan = (now: number) => {
      // A busy room is swapped with one of the next few, so the queue keeps moving.
      for (let ahead = cursor; ahead < Math.min(queue.length, cursor + 16); ahead++) {
        const room = queue[ahead];
        if (!room) break;
        const write = workload.nextFor(room, now);
        if (write === null) continue;
        queue[ahead] = queue[cursor] ?? room;
        queue[cursor] = room;
        cursor += 1;
        return write;
      }
      return null;
    };
    const base = makeStep('ours', 'cold', context.fillRate);
    say(`cold phase: filling runs, round ${round_}: ${needed} changes to ${short.length} rooms at ${context.fillRate}/s`);
    const fill = await runStep(rig, { ...base, label: `ours cold fill ${round_}`, seconds: needed / context.fillRate + 5, maxWrites: needed, plan, drainTimeoutS: 600 });
    fillChanges += fill.changes;
    await settle();
    const before = short.reduce((sum, room) => sum + (lengths.get(room) ?? 0), 0);
    lengths = await runLengths(client, rooms);
    const gained = short.reduce((sum, room) => sum + (lengths.get(room) ?? 0), 0) - before;
    // What a change really added (batches share their workflow task when a room has several waiting); runs that continued as new count as none.
    if (fill.changes > 0 && gained > 0) eventsPerChange = Math.min(firstEventsPerChange, Math.max(1, gained / fill.changes));
  }
  const sorted = rooms.map((room) => lengths.get(room) ?? 0).sort((a, b) => a - b);
  const runEvents = { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, total: sorted.reduce((sum, value) => sum + value, 0) };
  const fillS = round((Date.now() - fillStarted) / 1000);
  say(`cold phase: runs hold ${runEvents.min}-${sorted.at(-1) ?? 0} events (median ${runEvents.median}) after ${fillS}s and ${fillChanges} changes`);

  let changes: readonly GeneratedChange[] = [];
  // Written by the killer and the load's stop check, read after both: an object, so the reads are not narrowed to the initial nulls.
  const at: { restartUs: number | null; currentAfterS: number | null; pollingAfterS: number } = { restartUs: null, currentAfterS: null, pollingAfterS: 0 };
  let lastCheck = 0;
  const base = makeStep('ours', 'cold', options.coldRate);
  const killer = (async () => {
    await sleep(options.coldBeforeKillS * 1000);
    say('cold phase: kill -9 of the worker; starting a new one');
    await context.killWorker();
    at.restartUs = Date.now() * 1000;
    await context.startWorker();
    at.pollingAfterS = round((Date.now() * 1000 - at.restartUs) / 1_000_000);
    say(`cold phase: the new worker polls after ${at.pollingAfterS}s`);
  })();
  const limitS = options.coldBeforeKillS + 600;
  const step = await runStep(rig, {
    ...base,
    label: `ours cold restart ${options.coldRate}/s`,
    seconds: limitS,
    warmupS: 0,
    drainTimeoutS: 120,
    observe: (list) => (changes = list),
    // Checked at most every 250 ms: the load goes on until every change committed before the restart is reflected.
    stopped: () => {
      if (at.currentAfterS !== null) return true;
      if (at.restartUs === null || Date.now() - lastCheck < 250) return false;
      lastCheck = Date.now();
      const restart = at.restartUs;
      const before = changes.filter((change) => change.startUs < restart);
      if (before.some((change) => change.appliedUs === null)) return false;
      at.currentAfterS = round((before.reduce((max, change) => Math.max(max, change.appliedUs ?? 0), restart) - restart) / 1_000_000);
      return true;
    },
  });
  await killer;
  say(describeStep(step));
  // Rooms replayed before the view was current: those with a change unapplied at the restart or written until then.
  const restart = at.restartUs ?? 0;
  const currentUs = at.currentAfterS === null ? Number.POSITIVE_INFINITY : restart + at.currentAfterS * 1_000_000;
  const replayedRooms = new Set<string>();
  for (const change of changes) {
    const roomKey = change.key.split('/').slice(0, 2).join('/');
    const pendingAtRestart = change.startUs < restart && (change.appliedUs ?? Number.POSITIVE_INFINITY) >= restart;
    const writtenUntilCurrent = change.startUs >= restart && change.startUs <= currentUs;
    if (pendingAtRestart || writtenUntilCurrent) replayedRooms.add(roomKey);
  }
  const byKey = new Map(rooms.map((room) => [`${room.hotel.code}/${room.code}`, lengths.get(room) ?? 0]));
  const replayedEvents = [...replayedRooms].reduce((sum, key) => sum + (byKey.get(key) ?? 0), 0);
  const result: ColdResult = {
    rate: options.coldRate,
    rooms: rooms.length,
    fill_target_events: options.coldFillEvents,
    run_events: runEvents,
    fill_changes: fillChanges,
    fill_s: fillS,
    current_after_s: at.currentAfterS,
    changes_before_restart: changes.filter((change) => change.startUs < restart).length,
    rooms_replayed: replayedRooms.size,
    replayed_events: replayedEvents,
    replayed_events_per_s: at.currentAfterS && at.currentAfterS > 0 ? round(replayedEvents / at.currentAfterS) : null,
    worker_polling_after_s: at.pollingAfterS,
    step,
  };
  say(
    `cold phase: unified view current ${at.currentAfterS === null ? 'NOT within the limit' : `${at.currentAfterS}s`} after the restart ` +
      `(worker polling after ${at.pollingAfterS}s); ${replayedRooms.size} rooms replayed, about ${replayedEvents} events: ${result.replayed_events_per_s ?? '?'} events/s`,
  );
  await settle();
  return result;
}
