import { addRooms, type Catalog } from './catalog.js';
import type { Monitor } from './monitor.js';
import type { OurPipeline } from './our-pipeline.js';
import { say } from './progress.js';
import type { MemoryResult } from './results.js';
import { runStep, type StepRig } from './step.js';
import { TouchEveryRoom } from './workload.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

/**
 * Opens `workflows` room workflows by touching that many rooms once (rooms beyond the
 * load's are inserted into legacy, which starts their workflows), then reads the
 * worker's resident memory with all of them open.
 */
export async function runMemoryPhase(rig: StepRig, monitor: Monitor, pipeline: OurPipeline, catalog: Catalog, workflows: number, rate: number, drainTimeoutS: number): Promise<MemoryResult> {
  const existing = catalog.rooms.length;
  if (workflows > existing) addRooms(catalog, workflows - existing);
  const touch = new TouchEveryRoom(catalog.rooms.slice(0, workflows), existing);
  const step = await runStep(rig, {
    label: `ours ${workflows} workflows`,
    target: 'ours',
    phase: 'memory',
    rate,
    seconds: workflows / rate + 120,
    warmupS: 0,
    plan: () => touch.next(),
    maxWrites: workflows,
    drainTimeoutS,
  });
  await sleep(3_000);
  await monitor.snapshot();
  const worker = monitor.memory('worker');
  const temporal = monitor.memory('temporal');
  const open = await pipeline.openRoomWorkflows();
  const result: MemoryResult = {
    workflows_touched: step.changes,
    open_room_workflows: open,
    worker_rss_mib: mib(worker.rssKiB),
    worker_hwm_mib: mib(worker.peakKiB),
    temporal_rss_mib: mib(temporal.rssKiB),
    step,
  };
  say(`${step.label}: ${open ?? '?'} open room workflows; worker RSS ${result.worker_rss_mib} MiB (peak ${result.worker_hwm_mib} MiB); Temporal server RSS ${result.temporal_rss_mib} MiB; ${step.verdict}`);
  return result;
}
