// `node --import tsx bench/memory-open.ts [--workflows N] [--rooms-first N] [--cache N] [--snapshot] [--worker-node-option F ...] [--batches N]`:
// the worker's resident memory with N room workflows open, alone (no load, no baseline), on
// databases and a Temporal dev server of its own (rs_mem_*, .data/memory-open). It opens
// workflows as the bench's memory phase does (rooms inserted into legacy, 50 per
// transaction, at most 200 not yet reflected) and prints the worker's RSS as it goes.
import { rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { projectRoot } from '../src/setup/source-schemas.js';
import { ensureTemporalCli, startTemporalDevServer } from '../src/setup/temporal.js';
import { addRooms, buildCatalog } from './catalog.js';
import { ChildService } from './children.js';
import { databaseUrl, namespace, taskQueue } from './config.js';
import { dropDatabases, recreateDatabases } from './databases.js';
import { pipelineEnv, waitUntil } from './our-pipeline.js';
import { freePort } from './ports.js';
import { readMemory } from './proc-stats.js';
import { say } from './progress.js';
import { insertCloudRooms, insertHotels, insertLegacyRooms } from './seed.js';

const { values } = parseArgs({
  options: {
    workflows: { type: 'string', default: '10000' },
    'rooms-first': { type: 'string', default: '2000' },
    cache: { type: 'string' },
    snapshot: { type: 'boolean', default: false },
    // e.g. --trace-gc (each isolate's heap after every GC, in worker.log) or --max-semi-space-size=2
    'worker-node-option': { type: 'string', multiple: true, default: [] },
    'settle-s': { type: 'string', default: '20' },
    'keep-databases': { type: 'boolean', default: false },
    // Before the rest are opened: N rounds that change every first room once (one batch each in its
    // run), one round every --round-s seconds; shows what a batch leaves in a cached run.
    batches: { type: 'string', default: '0' },
    'round-s': { type: 'string', default: '10' },
  },
});
const workflows = Number(values.workflows);
const roomsFirst = Math.min(workflows, Number(values['rooms-first']));
const settleS = Number(values['settle-s']);
const names = { legacy: 'rs_mem_legacy', cloud: 'rs_mem_cloud', unified: 'rs_mem_unified' } as const;
const dataDir = join(projectRoot, '.data', 'memory-open');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const mib = (kib: number | undefined) => (kib === undefined ? '?' : (kib / 1024).toFixed(1));

const children: ChildService[] = [];
let temporalStop: (() => Promise<void>) | null = null;
async function cleanUp(): Promise<void> {
  for (const child of children.reverse()) await child.stop().catch(() => undefined);
  await temporalStop?.().catch(() => undefined);
  if (!values['keep-databases']) await dropDatabases(names).catch(() => undefined);
}
process.on('SIGINT', () => void cleanUp().then(() => process.exit(130)));

try {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  await recreateDatabases(names, say, { benchTables: false });
  const catalog = buildCatalog(Math.max(1, Math.round(workflows / 25)));
  const first = addRooms(catalog, roomsFirst);
  const legacy = new pg.Pool({ connectionString: databaseUrl('legacy', names), max: 2 });
  const cloud = new pg.Pool({ connectionString: databaseUrl('cloud', names), max: 2 });
  const unified = new pg.Pool({ connectionString: databaseUrl('unified', names), max: 2 });
  // An idle client dropped by the server (the shared server at its connection limit) must not end the run.
  for (const pool of [legacy, cloud, unified]) pool.on('error', () => undefined);
  await insertHotels(legacy, cloud, catalog.hotels);
  await insertLegacyRooms(legacy, first);
  await insertCloudRooms(cloud, first);

  const cliPath = await ensureTemporalCli(projectRoot, say);
  const [port, uiPort] = [await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const temporal = await startTemporalDevServer({ cliPath, dataDir, address, uiPort, namespace, log: () => undefined });
  temporalStop = () => temporal.stop();
  const connection = await Connection.connect({ address });
  const env = pipelineEnv(names, address);
  if (values.cache !== undefined) env['WORKER_MAX_CACHED_WORKFLOWS'] = values.cache;
  const worker = ChildService.start('worker', ['src/cli/main.ts', 'worker'], env, join(dataDir, 'worker.log'), [
    // Not SIGUSR2: Temporal's runtime takes it as a shutdown signal.
    '--heapsnapshot-signal=SIGWINCH',
    ...values['worker-node-option'],
  ]);
  children.push(worker);
  await waitUntil('the worker to poll', 180_000, async () => {
    const response = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } });
    return (response.pollers?.length ?? 0) > 0;
  }, () => (worker.running ? null : `worker exited (see ${worker.logPath})`));
  const report = (label: string) => {
    const memory = readMemory(worker.pid);
    say(`${label}: worker RSS ${mib(memory?.rssKiB)} MiB (peak ${mib(memory?.hwmKiB)} MiB)`);
    return memory;
  };
  report('worker polling');
  for (const source of ['legacy', 'cloud'] as const) {
    children.push(ChildService.start(`connector ${source}`, ['src/cli/main.ts', 'connector', '--source', source], env, join(dataDir, `connector-${source}.log`)));
  }
  const reflected = async () => (await unified.query<{ rooms: number }>('SELECT count(*)::int AS rooms FROM unified_rooms')).rows[0]?.rooms ?? 0;
  await waitUntil(`${roomsFirst} rooms reflected`, 600_000, async () => (await reflected()) >= roomsFirst, () => null);
  report(`${roomsFirst} rooms reflected`);
  const rounds = Number(values.batches);
  for (let round = 1; round <= rounds; round++) {
    const roundStarted = Date.now();
    await legacy.query('UPDATE htl_room_inv SET allot_qty = allot_qty + 1');
    await sleep(Math.max(0, Number(values['round-s']) * 1000 - (Date.now() - roundStarted)));
    if (round % 5 === 0 || round === rounds) report(`${round}/${rounds} rounds of ${roomsFirst} changes`);
  }

  const added = addRooms(catalog, workflows - roomsFirst);
  const started = Date.now();
  let inserted = 0;
  let lastSay = Date.now();
  for (;;) {
    const rooms = await reflected();
    if (rooms >= workflows) break;
    if (inserted < added.length && roomsFirst + inserted - rooms < 200) {
      await insertLegacyRooms(legacy, added.slice(inserted, inserted + 50));
      inserted = Math.min(added.length, inserted + 50);
    }
    if (Date.now() - lastSay > 15_000) {
      lastSay = Date.now();
      report(`${rooms}/${workflows} rooms reflected after ${Math.round((Date.now() - started) / 1000)} s`);
    }
    await sleep(200);
  }
  report(`${workflows} rooms reflected after ${Math.round((Date.now() - started) / 1000)} s`);
  await sleep(settleS * 1000);
  const client = new Client({ connection, namespace });
  const { count } = await client.workflow.count(`WorkflowType = 'roomWorkflow' AND ExecutionStatus = 'Running'`);
  const final = report(`${count} open room workflows, ${settleS} s later`);
  process.stdout.write(`${JSON.stringify({ workflows, open: count, cache: values.cache ?? 'default', worker_rss_mib: Number(mib(final?.rssKiB)), worker_hwm_mib: Number(mib(final?.hwmKiB)) })}\n`);
  if (values.snapshot) {
    process.kill(worker.pid, 'SIGWINCH');
    say(`heap snapshot asked for; it lands in ${projectRoot} (Heap.*.heapsnapshot)`);
    await sleep(30_000);
  }
  await connection.close();
  await Promise.all([legacy.end(), cloud.end(), unified.end()]);
} finally {
  await cleanUp();
}
