// The floor's sender: logical replication from one source (its own slot), one
// signal-with-start to the room's workflow per change, the slot acknowledged once Temporal
// holds every change up to it. Like the baseline consumer, one process per source, so its
// CPU is counted as our connectors' is:
//   node --import tsx bench/floor/sender.ts   (configured by FLOOR_* variables)
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { TransactionTracker } from '../../src/cdc/transaction-tracker.js';
import type { RoomKey } from '../../src/domain/room.js';
import { loadProperties, mapRoomRow, prepareSlot } from '../source-slot.js';
import { floorPublication, floorSignalName, floorSlotName, floorTaskQueue, floorWorkflowId, floorWorkflowType, type FloorChange } from './types.js';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

const source = required('FLOOR_SOURCE') === 'cloud' ? 'cloud' : 'legacy';
const sourceUrl = required('FLOOR_SOURCE_URL');
const maxInFlight = Number(process.env['FLOOR_MAX_IN_FLIGHT'] ?? 64);
const resumeSlot = process.env['FLOOR_RESUME_SLOT'] === '1';
const slotName = floorSlotName(source);

const sourcePool = new pg.Pool({ connectionString: sourceUrl, max: 1, application_name: 'bench-floor-sender' });

async function main(): Promise<void> {
  const properties = await loadProperties(sourcePool, source);
  await prepareSlot(sourcePool, { publication: floorPublication, slotName, source, resume: resumeSlot });
  const connection = await Connection.connect({ address: required('FLOOR_TEMPORAL_ADDRESS') });
  const client = new Client({ connection, namespace: 'default' });
  const tracker = new TransactionTracker();
  const chains = new Map<string, Promise<void>>();
  let inFlight = 0;
  const waiters: (() => void)[] = [];

  const acquire = async () => {
    while (inFlight >= maxInFlight) await new Promise<void>((resolve) => waiters.push(resolve));
    inFlight += 1;
  };

  /** One signal-with-start per change; rooms concurrently, each room's signals in log order. */
  const send = (room: RoomKey, change: FloorChange): Promise<void> => {
    const key = `${room.hotelCode}/${room.roomCode}`;
    const previous = chains.get(key) ?? Promise.resolve();
    const done = previous.then(async () => {
      await client.workflow.signalWithStart(floorWorkflowType, {
        workflowId: floorWorkflowId(room),
        taskQueue: floorTaskQueue,
        args: [room, []],
        signal: floorSignalName,
        signalArgs: [change],
      });
    });
    chains.set(key, done);
    return done.finally(() => {
      if (chains.get(key) === done) chains.delete(key);
      inFlight -= 1;
      waiters.shift()?.();
    });
  };

  const service = new LogicalReplicationService(
    { connectionString: sourceUrl, application_name: `bench-floor-sender ${source}` },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [floorPublication] });
  let transaction: ReturnType<TransactionTracker['begin']> | null = null;
  let commitLsn = '0/0';
  let failure: unknown = null;

  service.on('data', async (lsn: string, message: Pgoutput.Message) => {
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
        tracker.track(current, send(mapped.room, { source, commitTime: current.commitTime, position: lsn, values: mapped.values }));
        return;
      }
      default:
        return;
    }
  });
  service.on('error', (error: unknown) => (failure ??= error));
  let lastAcked: string | null = null;
  let lastStatusAt = Date.now();
  const ackTimer = setInterval(() => {
    if (tracker.failed !== null) failure ??= tracker.failed;
    const durable = tracker.takeDurable();
    if (durable && durable.lsn !== lastAcked) {
      lastAcked = durable.lsn;
      lastStatusAt = Date.now();
      void service.acknowledge(durable.lsn).catch((error: unknown) => (failure ??= error));
    } else if (Date.now() - lastStatusAt > 10_000) {
      // A status update now and then, progress or not: the server ends a silent walsender after wal_sender_timeout.
      lastStatusAt = Date.now();
      void service.acknowledge(lastAcked ?? '0/0').catch((error: unknown) => (failure ??= error));
    }
  }, 200);

  const stop = async (code: number) => {
    clearInterval(ackTimer);
    await Promise.race([service.destroy(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
    await connection.close().catch(() => undefined);
    await sourcePool.end().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  const failureCheck = setInterval(() => {
    if (failure !== null) {
      clearInterval(failureCheck);
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- `failure` is whatever was caught
      process.stderr.write(`floor sender ${source}: ${failure instanceof Error ? failure.message : String(failure)}\n`);
      void stop(1);
    }
  }, 500);
  await service.subscribe(plugin, slotName);
}

main().catch((error: unknown) => {
  process.stderr.write(`floor sender ${source}: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
