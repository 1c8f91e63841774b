import type pg from 'pg';
import { addRooms, type Catalog } from './catalog.js';
import type { ComponentName, Monitor } from './monitor.js';
import type { OurPipeline } from './our-pipeline.js';
import { say } from './progress.js';
import type { MemoryResult } from './results.js';
import { insertLegacyRooms } from './seed.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
/** Rooms inserted per source transaction, and at most this many inserted and not yet reflected. */
const openingChunk = 50;
const maxOpening = 200;

export interface MemoryPhaseContext {
  readonly monitor: Monitor;
  readonly pipeline: OurPipeline;
  readonly catalog: Catalog;
  readonly legacy: pg.Pool;
  readonly unified: pg.Pool;
  readonly components: readonly ComponentName[];
}

/**
 * Opens room workflows until `workflows` rooms exist: the rooms beyond the load's are
 * inserted into legacy (each insert starts its room's workflow through the connector),
 * 50 per transaction with at most 200 not yet reflected. Once every one is
 * reflected in the unified view, reads the worker's resident memory with all of them open.
 */
export async function runMemoryPhase(context: MemoryPhaseContext, workflows: number, timeoutS: number): Promise<MemoryResult> {
  const { monitor, pipeline, catalog, legacy, unified } = context;
  const existing = catalog.rooms.length;
  const added = workflows > existing ? addRooms(catalog, workflows - existing) : [];
  const before = await monitor.snapshot();
  const started = Date.now();
  say(`adding ${added.length} rooms (inserted into legacy; each opens a workflow under per-room routing) until ${workflows} rooms are in the unified view`);
  let rooms = 0;
  let inserted = 0;
  let lastSay = 0;
  while (Date.now() - started < timeoutS * 1000) {
    const { rows } = await unified.query<{ rooms: number }>('SELECT count(*)::int AS rooms FROM unified_rooms');
    rooms = rows[0]?.rooms ?? 0;
    if (rooms >= workflows) break;
    // Keep a bounded number of rooms in flight: a flood of new workflows starves the ones already started.
    if (inserted < added.length && existing + inserted - rooms < maxOpening) {
      await insertLegacyRooms(legacy, added.slice(inserted, inserted + openingChunk));
      inserted = Math.min(added.length, inserted + openingChunk);
    }
    if (Date.now() - lastSay > 15_000) {
      lastSay = Date.now();
      say(`memory phase: ${rooms}/${workflows} rooms reflected after ${Math.round((Date.now() - started) / 1000)}s`);
    }
    await sleep(500);
  }
  const seconds = (Date.now() - started) / 1000;
  await sleep(5_000);
  const after = await monitor.snapshot();
  const worker = monitor.memory('worker');
  const temporal = monitor.memory('temporal');
  const open = await pipeline.openRoomWorkflows();
  const cpuMsPerWorkflow: Partial<Record<ComponentName, number>> = {};
  for (const name of context.components) {
    cpuMsPerWorkflow[name] = round(((after.cpuSeconds[name] - before.cpuSeconds[name]) * 1000) / Math.max(1, added.length));
  }
  const result: MemoryResult = {
    workflows_touched: rooms,
    open_room_workflows: open,
    worker_rss_mib: mib(worker.rssKiB),
    worker_hwm_mib: mib(worker.peakKiB),
    temporal_rss_mib: mib(temporal.rssKiB),
    opened: added.length,
    opening_s: round(seconds, 1),
    opened_per_s: round(added.length / Math.max(0.001, seconds), 1),
    cpu_ms_per_opened_workflow: cpuMsPerWorkflow,
  };
  say(
    `memory phase: ${rooms} rooms in ${open ?? '?'} open workflows (${added.length} rooms added in ${result.opening_s}s, ${result.opened_per_s}/s); ` +
      `worker RSS ${result.worker_rss_mib} MiB (peak ${result.worker_hwm_mib} MiB); Temporal server RSS ${result.temporal_rss_mib} MiB`,
  );
  return result;
}
