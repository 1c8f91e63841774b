import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { defaultRoomRouting, partitionOf, roomRoutingSchema, roomWorkflowIdFor, stableHash } from '../../src/routing/room-routing.js';

const code = fc.stringMatching(/^[A-Z0-9]{1,12}$/);

test('routing specs parse, and bad ones say what is expected', () => {
  assert.deepEqual(roomRoutingSchema.parse('per-room'), { mode: 'per-room' });
  assert.deepEqual(roomRoutingSchema.parse(' per-hotel '), { mode: 'per-hotel' });
  assert.deepEqual(roomRoutingSchema.parse('partitions:8'), { mode: 'partitions', partitions: 8 });
  for (const bad of ['partitions:0', 'partitions:-1', 'partitions:4097', 'partitions:2.5', 'partitions', 'per-rooms', '']) {
    const result = roomRoutingSchema.safeParse(bad);
    assert.equal(result.success, false, bad);
    assert.match(result.error?.issues[0]?.message ?? '', /expected per-room, per-hotel or partitions:N/);
  }
});

test('the hash is FNV-1a, so ids stay the same across processes and releases', () => {
  // Reference values of 32-bit FNV-1a.
  assert.equal(stableHash(''), 0x811c9dc5);
  assert.equal(stableHash('a'), 0xe40c292c);
  assert.equal(stableHash('foobar'), 0xbf9cf968);
  assert.equal(roomWorkflowIdFor({ mode: 'partitions', partitions: 8 }, { hotelCode: 'foobar', roomCode: '1' }), `rooms/partition-${0xbf9cf968 % 8}-of-8`);
});

test('every mode sends all of a room’s changes to one workflow, and a hotel’s rooms share a partition', () => {
  fc.assert(
    fc.property(code, code, code, fc.integer({ min: 1, max: 64 }), (hotelCode, roomA, roomB, partitions) => {
      const routing = { mode: 'partitions', partitions } as const;
      const a = roomWorkflowIdFor(routing, { hotelCode, roomCode: roomA });
      assert.equal(a, roomWorkflowIdFor(routing, { hotelCode, roomCode: roomB }));
      const index = partitionOf(hotelCode, partitions);
      assert.ok(index >= 0 && index < partitions);
      assert.equal(a, `rooms/partition-${index}-of-${partitions}`);
      assert.equal(roomWorkflowIdFor({ mode: 'per-hotel' }, { hotelCode, roomCode: roomA }), `hotel/${hotelCode}`);
      assert.equal(roomWorkflowIdFor({ mode: 'per-room' }, { hotelCode, roomCode: roomA }), `room/${hotelCode}/${roomA}`);
    }),
  );
});

test('partitions spread hotels roughly evenly', () => {
  const partitions = defaultRoomRouting.mode === 'partitions' ? defaultRoomRouting.partitions : 8;
  const counts = new Array<number>(partitions).fill(0);
  for (let hotel = 0; hotel < 8_000; hotel++) {
    const index = partitionOf(`HTL${String(hotel).padStart(5, '0')}`, partitions);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  const expected = 8_000 / partitions;
  for (const count of counts) assert.ok(Math.abs(count - expected) < expected * 0.15, `partition sizes ${counts.join(', ')}`);
});
