// The naive design, for comparison only: CDC from one source straight into an upsert
// of the room, last write wins. No precedence, no audit, no Temporal. Runs as its own
// process (one per source, like our connectors) so its CPU and memory can be read:
//   node --import tsx bench/baseline-consumer.ts   (configured by BASELINE_* variables)
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { TransactionTracker } from '../src/cdc/transaction-tracker.js';
import type { RoomKey } from '../src/domain/room.js';
import type { SourceRoomValues } from '../src/mapping/change.js';
import { loadProperties, mapRoomRow, prepareSlot } from './source-slot.js';
import { applicationNames, baselinePublication, baselineSlotName } from './config.js';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

const source = required('BASELINE_SOURCE') === 'cloud' ? 'cloud' : 'legacy';
const sourceUrl = required('BASELINE_SOURCE_URL');
const unifiedUrl = required('BASELINE_UNIFIED_URL');
const concurrency = Number(process.env['BASELINE_CONCURRENCY'] ?? 8);
/** Set on a restart (the drain phase): resume the slot and what it kept, instead of starting fresh. */
const resumeSlot = process.env['BASELINE_RESUME_SLOT'] === '1';
const slotName = baselineSlotName(source);
const publicationName = baselinePublication;

const upsertText = `
  INSERT INTO baseline_rooms (hotel_code, room_code, room_type, rate_minor, currency, availability, status, updated_at, ${source}_commit_time)
  VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)
  ON CONFLICT (hotel_code, room_code) DO UPDATE SET
    room_type = EXCLUDED.room_type, rate_minor = EXCLUDED.rate_minor, currency = EXCLUDED.currency,
    availability = EXCLUDED.availability, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
    ${source}_commit_time = EXCLUDED.${source}_commit_time`;

const sourcePool = new pg.Pool({ connectionString: sourceUrl, max: 1, application_name: applicationNames.baseline });
const unified = new pg.Pool({ connectionString: unifiedUrl, max: concurrency, application_name: applicationNames.baseline });

async function main(): Promise<void> {
  const properties = await loadProperties(sourcePool, source);
  await prepareSlot(sourcePool, { publication: publicationName, slotName, source, resume: resumeSlot });
  const tracker = new TransactionTracker();
  const chains = new Map<string, Promise<void>>();
  let inFlight = 0;
  const waiters: (() => void)[] = [];

  const upsert = async (room: RoomKey, values: SourceRoomValues | null, commitTime: string) => {
    const rate = values?.rateMinor ?? null;
    await unified.query({
      name: 'baseline-upsert',
      text: upsertText,
      values: [
        room.hotelCode,
        room.roomCode,
        values?.roomType ?? null,
        rate,
        rate === null ? null : values?.currency ?? null,
        values?.availability ?? null,
        values === null ? 'removed' : values.status,
        commitTime,
      ],
    });
  };

  const acquire = async () => {
    while (inFlight >= concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    inFlight += 1;
  };

  /** One upsert per change; rooms run concurrently, each room's upserts in log order. */
  const apply = (room: RoomKey, values: SourceRoomValues | null, commitTime: string): Promise<void> => {
    const key = `${room.hotelCode}/${room.roomCode}`;
    const previous = chains.get(key) ?? Promise.resolve();
    const done = previous.then(() => upsert(room, values, commitTime));
    chains.set(key, done);
    return done.finally(() => {
      if (chains.get(key) === done) chains.delete(key);
      inFlight -= 1;
      waiters.shift()?.();
    });
  };

  const service = new LogicalReplicationService(
    { connectionString: sourceUrl, application_name: `${applicationNames.baseline} ${source}` },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publicationName] });
  let transaction: ReturnType<TransactionTracker['begin']> | null = null;
  let commitLsn = '0/0';
  let failure: unknown = null;

  service.on('data', async (_lsn: string, message: Pgoutput.Message) => {
    switch (message.tag) {
      case 'begin': {
        commitLsn = message.commitLsn ?? '0/0';
        const micros = message.commitTime.valueOf();
        transaction = tracker.begin(commitLsn, new Date(Number(micros / 1000n)).toISOString());
        return;
      }
      case 'commit':
        if (transaction) tracker.commit(transaction, message.commitEndLsn ?? commitLsn);
        transaction = null;
        return;
      case 'insert':
      case 'update': {
        const current = transaction;
        if (!current) return;
        const mapped = mapRoomRow(source, message.new, properties);
        if (!mapped) return;
        tracker.noteRealChange(current);
        await acquire();
        tracker.track(current, apply(mapped.room, mapped.values, current.commitTime));
        return;
      }
      default:
        return;
    }
  });
  service.on('error', (error: unknown) => (failure ??= error));
  let lastAcked: string | null = null;
  const ackTimer = setInterval(() => {
    if (tracker.failed !== null) failure ??= tracker.failed;
    const durable = tracker.takeDurable();
    if (durable && durable.lsn !== lastAcked) {
      lastAcked = durable.lsn;
      void service.acknowledge(durable.lsn).catch((error: unknown) => (failure ??= error));
    }
  }, 200);

  const stop = async (code: number) => {
    clearInterval(ackTimer);
    await Promise.race([service.destroy(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
    await unified.end().catch(() => undefined);
    await sourcePool.end().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  const failureCheck = setInterval(() => {
    if (failure !== null) {
      clearInterval(failureCheck);
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- `failure` is whatever was caught; `!== null` narrowed unknown to {}
      process.stderr.write(`baseline ${source}: ${failure instanceof Error ? failure.message : String(failure)}\n`);
      void stop(1);
    }
  }, 500);
  await service.subscribe(plugin, slotName);
}

main().catch((error: unknown) => {
  process.stderr.write(`baseline ${source}: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
