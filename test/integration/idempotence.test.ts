// At-least-once delivery means batches come twice: the apply activity and the room
// workflow must make a replay change nothing. And legal's conflict_audit is append-only.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.js';
import type { SourceChange } from '../../src/mapping/change.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Policy } from '../../src/policy/schema.js';
import { roomStateQuery, sourceChangesSignal, type RoomState } from '../../src/workflows/messages.js';
import { roomWorkflow } from '../../src/workflows/room.js';
import { temporalDelivery } from '../../src/cdc/change-sender.js';
import { UnappliedLedger } from '../../src/cdc/unapplied-ledger.js';
import { hotelClassKey, hotelCodeKey, policyVersionKey, roomCodeKey } from '../../src/workflows/search-attributes.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
let activities: ReturnType<typeof createActivities>;

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('idem');
  policy = await defaultPolicy();
  activities = createActivities({ db: dbs.unified, policy, monitoring: { sources: [], channels: [], log: createLogger('test.monitor') } });
  // Only the worker: the test plays the connectors' part itself.
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.startWorker();
  // The legacy properties, as the legacy connector records them before it signals their rooms.
  await dbs.unified
    .insertInto('legacy_hotels')
    .values([
      { hotel_code: 'IDEM1', present: true, mgmt_typ: 'L', currency: 'EUR', position: '0000000001000000:00000001', commit_time: '2026-11-27T08:00:00Z', updated_at: new Date() },
      { hotel_code: 'IDEM2', present: true, mgmt_typ: 'C', currency: 'JPY', position: '0000000001000000:00000002', commit_time: '2026-11-27T08:00:00Z', updated_at: new Date() },
    ])
    .execute();
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

function legacyChange(hotelCode: string, roomCode: string, position: string, values: { rateMinor: number; availability: number; roomType: string }): SourceChange {
  return {
    kind: 'room',
    source: 'legacy',
    hotelCode,
    roomCode,
    position,
    commitTime: '2026-11-27T09:00:00.000Z',
    values: { roomType: values.roomType, rateMinor: values.rateMinor, currency: null, availability: values.availability, status: 'open' },
  };
}

function cloudChange(hotelCode: string, roomCode: string, position: string, values: { rateMinor: number; currency: string; availability: number; roomType: string }): SourceChange {
  return {
    kind: 'room',
    source: 'cloud',
    hotelCode,
    roomCode,
    position,
    commitTime: '2026-11-27T09:00:01.000Z',
    values: { roomType: values.roomType, rateMinor: values.rateMinor, currency: values.currency, availability: values.availability, status: 'open' },
  };
}

/** Everything a replay could touch, for one room. */
async function roomState(hotelCode: string, roomCode: string) {
  const unified = await dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotelCode).where('room_code', '=', roomCode).executeTakeFirst();
  const sources = await dbs.unified.selectFrom('room_sources').selectAll().where('hotel_code', '=', hotelCode).where('room_code', '=', roomCode).executeTakeFirst();
  const audit = await dbs.unified.selectFrom('conflict_audit').selectAll().where('hotel_code', '=', hotelCode).where('room_code', '=', roomCode).orderBy('id').execute();
  const deadLetters = await dbs.unified.selectFrom('dead_letters').select('id').execute();
  return { unified, sources, audit, deadLetters: deadLetters.length };
}

test('the apply activity given the same batch twice changes nothing the second time', async () => {
  const batch: SourceChange[] = [
    legacyChange('IDEM1', '101', '0000000002000000:00000001', { rateMinor: 12900, availability: 4, roomType: 'double' }),
    cloudChange('IDEM1', '101', '0000000002000100:00000001', { rateMinor: 13500, currency: 'EUR', availability: 7, roomType: 'king' }),
  ];

  const first = await activities.applyRoomChanges({ changes: batch });
  assert.equal(first.applied, 2);
  assert.equal(first.conflicts, 3, 'rate, availability and room_type differ');
  const afterFirst = await roomState('IDEM1', '101');
  assert.ok(afterFirst.unified);
  assert.equal(afterFirst.unified.rate_minor, '12900');
  assert.equal(afterFirst.audit.length, 3);

  const second = await activities.applyRoomChanges({ changes: batch });
  assert.equal(second.applied, 0);
  assert.equal(second.ignored, 2);
  assert.equal(second.conflicts, 0);
  assert.deepEqual(second.rooms.map((outcome) => outcome.view), first.rooms.map((outcome) => outcome.view));
  assert.deepEqual(first.rooms.map((outcome) => outcome.room), ['IDEM1/101']);
  assert.deepEqual(await roomState('IDEM1', '101'), afterFirst, 'unified row (updated_at included), source state, audit and dead letters unchanged');

  // The replay reordered, and in pieces, as overtaking signals deliver it: still nothing.
  await activities.applyRoomChanges({ changes: [batch[1], batch[0]].filter((change) => change !== undefined) });
  await activities.applyRoomChanges({ changes: batch.slice(1) });
  assert.deepEqual(await roomState('IDEM1', '101'), afterFirst);

  // A newer change, then an older one replayed late: the older one is ignored.
  const newer = legacyChange('IDEM1', '101', '0000000002000200:00000001', { rateMinor: 13500, availability: 4, roomType: 'double' });
  const applied = await activities.applyRoomChanges({ changes: [newer] });
  assert.equal(applied.applied, 1);
  const afterNewer = await roomState('IDEM1', '101');
  assert.equal(afterNewer.unified?.rate_minor, '13500');
  const late = await activities.applyRoomChanges({ changes: [batch[0] ?? newer, newer] });
  assert.equal(late.applied, 0);
  assert.deepEqual(await roomState('IDEM1', '101'), afterNewer);

  // One batch carrying the same change twice: applied once, audited once.
  const twice = cloudChange('IDEM1', '101', '0000000002000300:00000001', { rateMinor: 14000, currency: 'EUR', availability: 2, roomType: 'king' });
  const doubled = await activities.applyRoomChanges({ changes: [twice, twice] });
  assert.equal(doubled.applied, 1);
  assert.equal(doubled.ignored, 1);
  const afterDoubled = await roomState('IDEM1', '101');
  assert.deepEqual(
    afterDoubled.audit.slice(afterNewer.audit.length).map((row) => row.field),
    ['rate', 'availability'],
    'one audit row per conflict the change raised',
  );
});

test('one batch over many rooms writes exactly what one call per room writes', async () => {
  // The same changes twice, on two sets of rooms: one set applied in one call, the other room by room.
  const changesFor = (prefix: string): SourceChange[] => [
    legacyChange('IDEM1', `${prefix}1`, '0000000004000000:00000001', { rateMinor: 10000, availability: 3, roomType: 'double' }),
    cloudChange('IDEM2', `${prefix}2`, '0000000004000100:00000001', { rateMinor: 9000, currency: 'JPY', availability: 1, roomType: 'twin' }),
    cloudChange('IDEM1', `${prefix}1`, '0000000004000200:00000001', { rateMinor: 11000, currency: 'EUR', availability: 6, roomType: 'double' }),
    legacyChange('IDEM2', `${prefix}2`, '0000000004000300:00000001', { rateMinor: 8000, availability: 2, roomType: 'single' }),
    legacyChange('IDEM1', `${prefix}3`, '0000000004000400:00000001', { rateMinor: 7000, availability: 0, roomType: 'twin' }),
    cloudChange('IDEM1', `${prefix}1`, '0000000004000500:00000001', { rateMinor: 11500, currency: 'EUR', availability: 5, roomType: 'king' }),
  ];
  const batched = await activities.applyRoomChanges({ changes: changesFor('BATCH') });
  assert.deepEqual(batched.rooms.map((outcome) => outcome.room).sort(), ['IDEM1/BATCH1', 'IDEM1/BATCH3', 'IDEM2/BATCH2']);
  const single = changesFor('SINGLE');
  for (const roomCode of ['SINGLE1', 'SINGLE2', 'SINGLE3']) {
    await activities.applyRoomChanges({ changes: single.filter((change) => change.roomCode === roomCode) });
  }
  let audited = 0;
  for (const [batchRoom, singleRoom] of [
    ['IDEM1', 'BATCH1', 'SINGLE1'],
    ['IDEM2', 'BATCH2', 'SINGLE2'],
    ['IDEM1', 'BATCH3', 'SINGLE3'],
  ].map(([hotel, a, b]) => [roomState(hotel ?? '', a ?? ''), roomState(hotel ?? '', b ?? '')] as const)) {
    const [a, b] = [await batchRoom, await singleRoom];
    const comparable = (state: Awaited<typeof a>) => ({
      unified: state.unified && { ...state.unified, room_code: null, updated_at: null },
      // The chain head is a row hash, which covers the room's code, like the audit rows' hashes.
      sources: state.sources && { ...state.sources, room_code: null, updated_at: null, chain_head: null },
      audit: state.audit.map((row) => ({ ...row, id: null, room_code: null, resolved_at: null, prev_hash: null, row_hash: null })),
    });
    assert.ok(a.unified, 'the batched room has a unified row');
    assert.deepEqual(comparable(a), comparable(b));
    audited += a.audit.length;
  }
  assert.equal(batched.conflicts, audited, 'the call reports the audit rows it appended');
  assert.ok(audited >= 4, 'the changes raise conflicts in two hotels');
});

test('a room workflow signalled twice with the same changes changes nothing the second time', async () => {
  const room = { hotelCode: 'IDEM2', roomCode: 'A7' };
  const changes: SourceChange[] = [
    cloudChange('IDEM2', 'A7', '0000000003000000:00000001', { rateMinor: 18000, currency: 'JPY', availability: 3, roomType: 'twin' }),
    legacyChange('IDEM2', 'A7', '0000000003000100:00000002', { rateMinor: 15000, availability: 5, roomType: 'twin' }),
  ];
  const workflowId = `room/${room.hotelCode}/${room.roomCode}`;
  const signal = () =>
    env.client.workflow.signalWithStart(roomWorkflow, {
      workflowId,
      taskQueue: pipeline.taskQueue,
      args: [{ room }],
      signal: sourceChangesSignal,
      signalArgs: [changes],
    });

  const handle = await signal();
  const applied = await waitFor('the first batch to be applied', async () => {
    const state = await handle.query(roomStateQuery);
    return state.batchesApplied >= 1 && state.pendingChanges === 0 ? state : undefined;
  });
  const appliedView = applied.row;
  assert.equal(appliedView?.rateMinor, 18000);
  assert.equal(applied.row?.lastPositions.cloud, changes[0]?.position, "the query reports each source's position");
  assert.deepEqual(applied.lastConflicts.map((conflict) => [conflict.field, conflict.winner]), [['rate', 'cloud'], ['availability', 'cloud']]);
  const afterFirst = await roomState('IDEM2', 'A7');
  assert.equal(afterFirst.unified?.rate_minor, '18000');
  assert.equal(afterFirst.unified?.currency, 'JPY');
  assert.deepEqual(
    afterFirst.audit.map((row) => [row.field, row.winning_source]),
    [
      ['rate', 'cloud'],
      ['availability', 'cloud'],
    ],
  );

  await signal(); // the connector re-sending after a restart does exactly this
  await handle.signal(sourceChangesSignal, changes);
  const replayed: RoomState = await waitFor('both replays to be applied', async () => {
    const state = await handle.query(roomStateQuery);
    return state.pendingChanges === 0 && state.batchesApplied >= applied.batchesApplied + 1 ? state : undefined;
  });
  // The two replays may have been drained as one batch or two; either way nothing moved.
  await waitFor('every signal drained', async () => {
    const state = await handle.query(roomStateQuery);
    return state.pendingChanges === 0 ? state : undefined;
  });
  assert.deepEqual((await handle.query(roomStateQuery)).row, appliedView);
  assert.deepEqual(replayed.row?.lastPositions, applied.row?.lastPositions, 'the replays moved no source position');
  assert.deepEqual(replayed.lastConflicts, [], 'the replays raised no conflict');
  assert.deepEqual(await roomState('IDEM2', 'A7'), afterFirst, 'unified row (updated_at included), source state and audit unchanged');
});

test('conflict_audit rejects UPDATE, DELETE and TRUNCATE', async () => {
  const before = await dbs.unified.selectFrom('conflict_audit').selectAll().orderBy('id').execute();
  assert.ok(before.length > 0, 'the earlier tests left audit rows');
  const pool = dbs.unifiedPool;
  await assert.rejects(pool.query(`UPDATE conflict_audit SET winning_source = 'cloud'`), /append-only/);
  await assert.rejects(pool.query(`UPDATE conflict_audit SET rule = 'rewritten' WHERE id = $1`, [before[0]?.id]), /append-only/);
  await assert.rejects(pool.query('DELETE FROM conflict_audit'), /append-only/);
  await assert.rejects(pool.query('DELETE FROM conflict_audit WHERE id = $1', [before[0]?.id]), /append-only/);
  await assert.rejects(pool.query('TRUNCATE conflict_audit'), /append-only/);
  // Appending is what the table is for.
  const { rowCount } = await pool.query(
    `INSERT INTO conflict_audit (hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version, hotel_class, trigger_source, trigger_position)
     VALUES ('IDEM9', '1', 'availability', '1', '2', '2', 'cloud', 'test', 'test', 'default', 'cloud', '0000000009000000:00000001')`,
  );
  assert.equal(rowCount, 1);
  const after = await dbs.unified.selectFrom('conflict_audit').selectAll().orderBy('id').execute();
  assert.deepEqual(after.slice(0, before.length), before, 'no row changed');
  assert.equal(after.length, before.length + 1);
});

test('a room workflow continues as new without losing a signal, keeps its search attributes, and its query reports each source', async () => {
  const room = { hotelCode: 'IDEM2', roomCode: '777' };
  const workflowId = `room/${room.hotelCode}/${room.roomCode}`;
  const changes = Array.from({ length: 12 }, (_, index) =>
    index % 2 === 0
      ? legacyChange('IDEM2', '777', `00000000030000${String(index).padStart(2, '0')}:00000001`, { rateMinor: 1000 + index, availability: index, roomType: 'twin' })
      : cloudChange('IDEM2', '777', `00000000030000${String(index).padStart(2, '0')}:00000001`, { rateMinor: 2000 + index, currency: 'JPY', availability: index, roomType: 'twin' }),
  );
  // A tiny run length forces several continue-as-new hand-overs while signals keep coming.
  let firstRunId: string | undefined;
  for (const change of changes) {
    const handle = await env.client.workflow.signalWithStart(roomWorkflow, {
      workflowId,
      taskQueue: pipeline.taskQueue,
      args: [{ room, maxBatchesPerRun: 2 }],
      typedSearchAttributes: [
        { key: hotelCodeKey, value: room.hotelCode },
        { key: roomCodeKey, value: room.roomCode },
      ],
      signal: sourceChangesSignal,
      signalArgs: [[change]],
    });
    firstRunId ??= handle.signaledRunId;
  }
  const last = { legacy: changes[10]?.position, cloud: changes[11]?.position };
  const state = await waitFor('all changes applied', async () => {
    const current = await env.client.workflow.getHandle(workflowId).query(roomStateQuery);
    return current.row?.lastPositions.legacy === last.legacy && current.row?.lastPositions.cloud === last.cloud && current.pendingChanges === 0 ? current : undefined;
  });
  assert.ok(state.batchesApplied <= 2, 'no run applies more than its run length');
  assert.equal(state.row?.hotelClass, 'cloud-managed');
  const description = await env.client.workflow.getHandle(workflowId).describe();
  assert.notEqual(description.runId, firstRunId, 'the workflow continued as new');
  assert.equal(description.typedSearchAttributes.get(hotelCodeKey), 'IDEM2', 'HotelCode survives continue-as-new');
  assert.equal(description.typedSearchAttributes.get(roomCodeKey), '777', 'RoomCode survives continue-as-new');
  assert.equal(description.typedSearchAttributes.get(hotelClassKey), 'cloud-managed', 'HotelClass follows the row');
  assert.equal(description.typedSearchAttributes.get(policyVersionKey), policy.policyVersion, 'PolicyVersion follows the row');
  // Workflow code captures no stacks (src/workflows/stack-traces.ts): the SDK's promise hook finds no frames to map or keep.
  const { stacks } = await env.client.workflow.getHandle(workflowId).query<{ stacks: { locations: unknown[] }[] }>('__enhanced_stack_trace');
  assert.deepEqual(stacks.filter((stack) => stack.locations.length > 0), [], 'no promise of the waiting run holds a stack');
  const stored = await roomState('IDEM2', '777');
  assert.equal(stored.unified?.availability, 11);
  assert.equal(stored.unified?.rate_minor, '2011');
});

test('signals (as the connectors send them) land on the next run when one arrives during continue-as-new', async () => {
  const room = { hotelCode: 'IDEM2', roomCode: '888' };
  const workflowId = `room/${room.hotelCode}/${room.roomCode}`;
  const changes = Array.from({ length: 16 }, (_, index) =>
    index % 2 === 0
      ? legacyChange('IDEM2', '888', `00000000050000${String(index).padStart(2, '0')}:00000001`, { rateMinor: 3000 + index, availability: index, roomType: 'twin' })
      : cloudChange('IDEM2', '888', `00000000050000${String(index).padStart(2, '0')}:00000001`, { rateMinor: 4000 + index, currency: 'JPY', availability: index, roomType: 'twin' }),
  );
  const [first, ...rest] = changes;
  assert.ok(first);
  // Started with a tiny run length; the deliveries then find it running and keep it handing over.
  const started = await env.client.workflow.signalWithStart(roomWorkflow, {
    workflowId,
    taskQueue: pipeline.taskQueue,
    args: [{ room, maxBatchesPerRun: 2 }],
    signal: sourceChangesSignal,
    signalArgs: [[first]],
  });
  const deliver = temporalDelivery(env.client, pipeline.taskQueue, new UnappliedLedger(dbs.unified));
  // Two at a time, as the two connectors do, so deliveries keep arriving while runs hand over.
  for (let index = 0; index < rest.length; index += 2) await Promise.all(rest.slice(index, index + 2).map((change) => deliver(workflowId, [change])));
  const last = { legacy: changes[14]?.position, cloud: changes[15]?.position };
  await waitFor('every delivered change applied', async () => {
    const current = await env.client.workflow.getHandle(workflowId).query(roomStateQuery);
    return current.row?.lastPositions.legacy === last.legacy && current.row?.lastPositions.cloud === last.cloud && current.pendingChanges === 0 ? current : undefined;
  });
  const waiting = await dbs.unified.selectFrom('unapplied_changes').selectAll().where('hotel_code', '=', 'IDEM2').where('room_code', '=', '888').execute();
  assert.deepEqual(waiting, [], 'every delivered change has left the unapplied ledger');
  const description = await env.client.workflow.getHandle(workflowId).describe();
  assert.notEqual(description.runId, started.signaledRunId, 'the workflow continued as new while deliveries arrived');
  const stored = await roomState('IDEM2', '888');
  assert.equal(stored.unified?.availability, 15, 'cloud owns availability; its newest value is 15');
  assert.equal(stored.unified?.rate_minor, '4015', 'cloud-managed: the newest cloud rate');
  assert.equal(stored.sources?.legacy && (stored.sources.legacy as { position: string }).position, last.legacy, 'the newest legacy change is stored');
});

test('a cancelled room workflow ends its run as cancelled (the loop hears a cancel while it waits); the next change starts a new run', async () => {
  const room = { hotelCode: 'IDEM2', roomCode: 'CX1' };
  const workflowId = `room/${room.hotelCode}/${room.roomCode}`;
  const deliver = (change: SourceChange) =>
    env.client.workflow.signalWithStart(roomWorkflow, { workflowId, taskQueue: pipeline.taskQueue, args: [{ room }], signal: sourceChangesSignal, signalArgs: [[change]] });
  const first = await deliver(legacyChange('IDEM2', 'CX1', '0000000007000000:00000001', { rateMinor: 5100, availability: 1, roomType: 'twin' }));
  await waitFor('the first change applied', async () => ((await first.query(roomStateQuery)).batchesApplied >= 1 ? true : undefined));
  await first.cancel();
  await assert.rejects(first.result(), (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
  assert.equal((await first.describe()).status.name, 'CANCELLED');

  const second = await deliver(cloudChange('IDEM2', 'CX1', '0000000007000100:00000001', { rateMinor: 5200, currency: 'JPY', availability: 4, roomType: 'twin' }));
  assert.notEqual(second.signaledRunId, first.signaledRunId, 'a new run');
  await waitFor('the change after the cancel applied', async () => ((await second.query(roomStateQuery)).row?.availability === 4 ? true : undefined));
  assert.equal((await roomState('IDEM2', 'CX1')).unified?.availability, 4);
});
