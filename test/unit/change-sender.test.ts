// The connector's batching: pure bookkeeping around an injected delivery, so these run
// without Temporal; the integration suites cover delivery to the real server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ChangeSender, SenderStoppedError, type ChangeDelivery } from '../../src/cdc/change-sender.js';
import type { RoomSignal } from '../../src/cdc/row-event.js';
import { createLogger } from '../../src/observability/logger.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';

const log = createLogger('test.sender');

function change(hotelCode: string, roomCode: string, sequence: number): RoomSignal {
  const position = `${sequence.toString(16).padStart(16, '0')}:00000001`;
  return {
    room: { hotelCode, roomCode },
    change: { kind: 'room', source: 'cloud', hotelCode, roomCode, position, commitTime: '2026-11-28T00:00:00.000Z', values: null },
  };
}

/** A delivery the test releases by hand, recording what each signal carried. */
function manualDelivery() {
  const sent: { workflowId: string; positions: string[]; release: (error?: Error) => void }[] = [];
  const deliver: ChangeDelivery = (workflowId, changes) =>
    new Promise<void>((resolve, reject) => {
      sent.push({ workflowId, positions: changes.map((c) => c.position), release: (error) => (error ? reject(error) : resolve()) });
    });
  return { sent, deliver };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test('one signal in flight per workflow; what arrives meanwhile travels together next', async () => {
  const { sent, deliver } = manualDelivery();
  const sender = new ChangeSender({ deliver, maxInFlight: 8, maxBatchChanges: 100, maxQueuedChanges: 1_000, log });
  const first = await sender.send([change('H1', '1', 1)]);
  await flush();
  assert.equal(sent.length, 1);
  const second = await sender.send([change('H1', '1', 2), change('H2', '1', 3)]);
  const third = await sender.send([change('H1', '1', 4)]);
  await flush();
  assert.deepEqual(sent.map((s) => s.workflowId), ['room/H1/1', 'room/H2/1'], 'H2/1 is not held up by H1/1');
  assert.equal(sender.pending, 4);
  sent[0]?.release();
  await Promise.all(first);
  await flush();
  assert.deepEqual(sent[2]?.positions, [2, 4].map((n) => `${n.toString(16).padStart(16, '0')}:00000001`), 'H1/1’s two waiting changes in one signal');
  sent[1]?.release();
  sent[2]?.release();
  await Promise.all([...second, ...third]);
  assert.equal(sender.pending, 0);
});

test('a failed signal is retried until accepted, and its promise settles only then', async () => {
  let attempts = 0;
  const sender = new ChangeSender({
    deliver: async () => {
      attempts += 1;
      if (attempts < 3) throw new Error('server unavailable');
    },
    maxInFlight: 1,
    maxBatchChanges: 10,
    maxQueuedChanges: 10,
    retryDelayMs: 1,
    log: { ...log, warn: () => undefined },
  });
  await Promise.all(await sender.send([change('H', '1', 1)]));
  assert.equal(attempts, 3);
});

test('send waits while too many changes are held, and stop rejects what was never sent', async () => {
  const { sent, deliver } = manualDelivery();
  const sender = new ChangeSender({ deliver, maxInFlight: 1, maxBatchChanges: 10, maxQueuedChanges: 2, log });
  const inFlight = await sender.send([change('H', '1', 1), change('H', '2', 2)]);
  let admitted = false;
  const blocked = sender.send([change('H', '3', 3)]).then((promises) => {
    admitted = true;
    return promises;
  });
  await flush();
  assert.equal(admitted, false, 'two changes held: the third waits');
  assert.equal(sent.length, 1, 'one signal in flight at a time');
  sent[0]?.release();
  await flush();
  await flush();
  assert.equal(admitted, true, 'room again once the first signal was accepted');
  const waiting = await blocked;
  sender.stop();
  sent.at(-1)?.release();
  const outcomes = await Promise.allSettled([...inFlight, ...waiting]);
  assert.ok(outcomes.some((outcome) => outcome.status === 'rejected' && outcome.reason instanceof SenderStoppedError), 'unsent changes are rejected, never reported as sent');
});

test('property: every change is delivered exactly once, to its room’s workflow, in its send order per workflow', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.tuple(fc.constantFrom('H1', 'H2', 'H3', 'H4', 'H5'), fc.constantFrom('1', '2', '3')), { maxLength: 6 }), { maxLength: 12 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      async (calls, maxInFlight, maxBatchChanges, maxAwaitingApply) => {
        const delivered: { workflowId: string; positions: string[] }[] = [];
        // With an admission bound, a ledger read finds a delivery applied only from the second read after it.
        let readUpTo = 0;
        const awaitingApply = async () => {
          const waiting = new Set(delivered.slice(readUpTo).map((d) => d.workflowId));
          readUpTo = delivered.length;
          return waiting;
        };
        const sender = new ChangeSender({
          ...(maxAwaitingApply === undefined ? {} : { admission: { maxAwaitingApply, recheckMs: 1, awaitingApply } }),
          deliver: async (workflowId, changes) => {
            await new Promise((resolve) => setImmediate(resolve));
            delivered.push({ workflowId, positions: changes.map((c) => c.position) });
          },
          maxInFlight,
          maxBatchChanges,
          maxQueuedChanges: 1_000,
          log: { ...log, info: () => undefined },
        });
        let sequence = 0;
        const expected = new Map<string, string[]>();
        const all: Promise<void>[] = [];
        for (const call of calls) {
          const signals = call.map(([hotel, room]) => change(hotel, room, ++sequence));
          for (const signal of signals) {
            const id = roomWorkflowId(signal.room);
            expected.set(id, [...(expected.get(id) ?? []), signal.change.position]);
          }
          all.push(...(await sender.send(signals)));
        }
        await Promise.all(all);
        const actual = new Map<string, string[]>();
        for (const { workflowId, positions } of delivered) {
          assert.ok(positions.length <= maxBatchChanges);
          actual.set(workflowId, [...(actual.get(workflowId) ?? []), ...positions]);
        }
        assert.deepEqual(actual, expected);
        assert.equal(sender.pending, 0);
      },
    ),
    { numRuns: 150 },
  );
});

test('a busy workflow gets at most one signal per interval; a quiet one is signalled at once', async () => {
  const sentAt: { workflowId: string; at: number; changes: number }[] = [];
  const sender = new ChangeSender({
    deliver: async (workflowId, changes) => {
      sentAt.push({ workflowId, at: performance.now(), changes: changes.length });
    },
    maxInFlight: 8,
    maxBatchChanges: 1_000,
    maxQueuedChanges: 10_000,
    minSendIntervalMs: 60,
    log,
  });
  const started = performance.now();
  const all: Promise<void>[] = [];
  // H1 gets a change every 5 ms for 200 ms; H2 one change, late.
  for (let i = 0; i < 40; i++) {
    all.push(...(await sender.send([change('H1', '1', i + 1)])));
    if (i === 30) all.push(...(await sender.send([change('H2', '1', 100)])));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(all);
  const h1 = sentAt.filter((s) => s.workflowId === 'room/H1/1');
  const h2 = sentAt.filter((s) => s.workflowId === 'room/H2/1');
  assert.equal(h1.reduce((sum, s) => sum + s.changes, 0), 40, 'every change delivered');
  assert.ok(h1[0] !== undefined && h1[0].at - started < 30, 'the first change went at once');
  for (let i = 1; i < h1.length; i++) assert.ok((h1[i]?.at ?? 0) - (h1[i - 1]?.at ?? 0) >= 55, `signals ${i - 1} and ${i} at least an interval apart`);
  assert.ok(h1.length <= 6, `about one signal per 60 ms over ~240 ms, got ${h1.length}`);
  assert.equal(h2.length, 1, 'H2 was not held back by H1');
});

/** A sender under an admission bound whose deliveries are taken at once, recording the workflows delivered to. */
function admittingSender(maxAwaitingApply: number, awaitingApply: () => Promise<ReadonlySet<string>>) {
  const delivered: string[] = [];
  const sender = new ChangeSender({
    deliver: async (workflowId) => {
      delivered.push(workflowId);
    },
    admission: { maxAwaitingApply, awaitingApply, recheckMs: 5 },
    maxInFlight: 8,
    maxBatchChanges: 100,
    maxQueuedChanges: 1_000,
    log: { ...log, warn: () => undefined, info: () => undefined },
  });
  return { sender, delivered };
}

test('admission: past the bound of rooms awaiting an apply, deliveries wait until the ledger shows rooms applied', async () => {
  let stillWaiting = new Set<string>(['room/H1/1', 'room/H2/1']);
  let ledgerReads = 0;
  const { sender, delivered } = admittingSender(2, async () => {
    ledgerReads += 1;
    return stillWaiting;
  });
  const first = await sender.send([change('H1', '1', 1), change('H2', '1', 2), change('H3', '1', 3)]);
  await Promise.all(first.slice(0, 2));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(delivered, ['room/H1/1', 'room/H2/1'], 'H3/1 waits: two rooms already wait for the workers');
  assert.ok(ledgerReads >= 2, 'the ledger is read again while deliveries are held');
  assert.equal(sender.awaitingApply, 2);

  // An admitted room's next change adds no waiting task: it goes at once.
  await Promise.all(await sender.send([change('H1', '1', 4)]));
  assert.deepEqual(delivered, ['room/H1/1', 'room/H2/1', 'room/H1/1']);

  stillWaiting = new Set(['room/H2/1']);
  await Promise.all(first);
  assert.deepEqual(delivered.at(-1), 'room/H3/1', 'H1/1 applied: H3/1 delivered');
  assert.equal(sender.awaitingApply, 2, 'H2/1 and H3/1');
  sender.stop();
});

test('admission: a ledger read that fails holds the deliveries and is retried', async () => {
  let failures = 0;
  const { sender, delivered } = admittingSender(1, async () => {
    if (failures++ < 2) throw new Error('connection reset');
    return new Set<string>();
  });
  await Promise.all(await sender.send([change('H1', '1', 1), change('H2', '1', 2)]));
  assert.deepEqual(delivered, ['room/H1/1', 'room/H2/1']);
  assert.equal(failures, 3, 'two failed reads, then one that released H1/1');
  sender.stop();
});
