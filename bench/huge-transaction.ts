// One huge source transaction through the real pipeline, with figures: N row changes in ONE
// cloud commit (every room of a cloud-only hotel updated 200 times; see
// test/support/huge-transaction.ts for why updates), until everything is applied, audited
// and equal to the reference computed from the sources. The cloud connector runs as its own
// process (`room-sync connector --source cloud`), so its peak RSS is its own; the worker and
// the legacy connector run in this one. The short version (20,000 rows) is in
// test/integration/hostile-stream.test.ts.
//
//   node --import tsx bench/huge-transaction.ts [--rows 20000,100000]
//
// Several sizes run one after the other on the same connector: a bounded connector shows
// about the same peak RSS for each.
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/setup/source-schemas.js';
import { waitForConvergence, waitForSettled } from '../test/support/assertions.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor } from '../test/support/environment.js';
import { commitHugeTransaction, seedHugeTransactionHotel } from '../test/support/huge-transaction.js';
import { ChildService } from './children.js';
import { readMemory } from './proc-stats.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '100000' } } });
const sizes = (args.rows ?? '100000').split(',').map((size) => Number(size.trim()));
if (sizes.some((size) => !Number.isInteger(size) || size < 200)) {
  process.stderr.write('bench/huge-transaction.ts: --rows takes whole numbers of at least 200, comma-separated\n');
  process.exit(2);
}
const rounds = 200;
const mib = (kib: number) => Math.round(kib / 1024);

const env = await startTestTemporal();
const dbs = await createTestDatabases('hugetxn');
const policy = await defaultPolicy();
const pipeline = new TestPipeline(env, dbs, policy);
const logDir = join(projectRoot, 'bench', 'results');
mkdirSync(logDir, { recursive: true });
let connector: ChildService | null = null;
const knownKeys = new Set<string>();
const rows: string[] = [];
try {
  await pipeline.startWorker();
  await pipeline.startConnector('legacy');
  connector = ChildService.start(
    'cloud connector',
    ['src/cli/main.ts', 'connector', '--source', 'cloud'],
    {
      UNIFIED_DATABASE_URL: dbs.urls.unified,
      LEGACY_DATABASE_URL: dbs.urls.legacy,
      CLOUD_DATABASE_URL: dbs.urls.cloud,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      TEMPORAL_TASK_QUEUE: pipeline.taskQueue,
      HEARTBEAT_INTERVAL_MS: '1000',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    join(logDir, 'huge-transaction-connector.log'),
  );
  const cloudConnector = connector;
  await waitFor('the cloud connector streaming', async () => {
    if (!cloudConnector.running) throw new Error(`the cloud connector exited; see ${cloudConnector.logPath}`);
    const cursor = await dbs.unified.selectFrom('cdc_cursors').select('snapshot_completed_at').where('source', '=', 'cloud').executeTakeFirst();
    return cursor?.snapshot_completed_at ?? undefined;
  }, { timeoutMs: 120_000 });

  for (const [index, size] of sizes.entries()) {
    const roomCount = Math.ceil(size / rounds);
    const hotelCode = `HB${index + 1}`;
    const propertyId = await seedHugeTransactionHotel(dbs.cloud, hotelCode, roomCount);
    for (let room = 1; room <= roomCount; room++) knownKeys.add(`${hotelCode}/B${room}`);
    await waitForConvergence(dbs, policy.policyVersion, { knownKeys, description: `${hotelCode}'s rooms`, timeoutMs: 600_000 });

    const before = readMemory(connector.pid);
    let peakKiB = before?.rssKiB ?? 0;
    const sampler = setInterval(() => {
      peakKiB = Math.max(peakKiB, readMemory(cloudConnector.pid)?.rssKiB ?? 0);
    }, 100);
    const sourceSeconds = await commitHugeTransaction(dbs.cloud, propertyId, rounds);
    const committed = performance.now();
    await waitForSettled(dbs, env.client, policy.policyVersion, { knownKeys, timeoutMs: 1_800_000 });
    const settledSeconds = (performance.now() - committed) / 1000;
    clearInterval(sampler);
    const applied = await dbs.unified.selectFrom('unified_rooms').select('availability').where('hotel_code', '=', hotelCode).execute();
    if (applied.length !== roomCount || applied.some((room) => room.availability !== rounds)) throw new Error(`${hotelCode}: not every room ended at ${rounds}`);
    const changes = roomCount * rounds;
    rows.push(
      [
        changes.toLocaleString('en'),
        `${roomCount} × ${rounds}`,
        sourceSeconds.toFixed(1),
        settledSeconds.toFixed(1),
        Math.round(changes / settledSeconds).toLocaleString('en'),
        `${mib(before?.rssKiB ?? 0)}`,
        `${mib(peakKiB)}`,
      ].join(' | '),
    );
    process.stdout.write(`huge transaction of ${changes} row changes: applied and equal to the reference\n`);
  }
  process.stdout.write(
    '\n| rows in one commit | rooms × updates | source commit s | commit → settled s | rows/s | connector RSS before MiB | connector peak RSS MiB |\n' +
      '|---:|---:|---:|---:|---:|---:|---:|\n' +
      rows.map((row) => `| ${row} |\n`).join(''),
  );
} finally {
  await connector?.stop();
  await pipeline.stop();
  await dbs.drop();
  await env.teardown();
}
