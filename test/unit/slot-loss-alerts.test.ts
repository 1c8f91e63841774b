import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { AlertEvent } from '../../src/monitoring/lag-state.js';
import { evaluateSlotLoss, initialSlotLossState, type SlotLossReading, type SlotLossState } from '../../src/monitoring/slot-loss-alerts.js';
import { channelWants, describeEvent } from '../../src/monitoring/channels.js';

function run(readings: readonly (SlotLossReading | null)[], state: SlotLossState = initialSlotLossState): { events: AlertEvent[]; state: SlotLossState } {
  const events: AlertEvent[] = [];
  let current = state;
  for (const reading of readings) {
    const judged = evaluateSlotLoss('cloud', current, reading);
    current = judged.state;
    events.push(...judged.events);
  }
  return { events, state: current };
}

const lost = (lostAt: string, resnapshotCompletedAt: string | null = null): SlotLossReading => ({ lostAt, reason: 'dropped', resnapshotCompletedAt });

test('no slot ever lost: nothing', () => {
  assert.deepEqual(run([null, null]).events, []);
});

test('a loss seen while re-snapshotting warns, and resolves once the re-snapshot completed; never a page', () => {
  const { events } = run([lost('2026-12-07T01:00:00.000Z'), lost('2026-12-07T01:00:00.000Z'), lost('2026-12-07T01:00:00.000Z', '2026-12-07T01:00:01.000Z'), lost('2026-12-07T01:00:00.000Z', '2026-12-07T01:00:01.000Z')]);
  assert.deepEqual(events.map((event) => event.kind), ['warn', 'resolve']);
  assert.equal(events[0]?.incidentKey, 'room-sync/slot/cloud/2026-12-07T01:00:00.000Z');
  assert.equal(events[1]?.incidentKey, events[0]?.incidentKey);
  assert.match(describeEvent(events[0]), /cloud replication slot was gone \(dropped\).*re-snapshot is running/);
  // A pager hears nothing of it; a webhook hears both.
  for (const event of events) assert.equal(channelWants({ kind: 'pagerduty' }, event), false);
  for (const event of events) assert.equal(channelWants({ kind: 'webhook' }, event), true);
});

test('a loss first seen after its re-snapshot (while the monitor was down too) still warns, and resolves at once', () => {
  const { events } = run([lost('2026-12-07T01:00:00.000Z', '2026-12-07T01:00:01.000Z')]);
  assert.deepEqual(events.map((event) => event.kind), ['warn', 'resolve']);
  assert.match(describeEvent(events[0] as AlertEvent), /re-snapshot completed at 2026-12-07T01:00:01/);
});

test('property: one warning per loss, each resolved at most once, and never a page', () => {
  const times = fc.integer({ min: 0, max: 5 }).map((n) => `2026-12-07T01:0${n}:00.000Z`);
  const readings = fc.array(
    fc.oneof(fc.constant(null), fc.record({ lostAt: times, done: fc.boolean() }).map(({ lostAt, done }) => lost(lostAt, done ? '2026-12-07T02:00:00.000Z' : null))),
    { maxLength: 50 },
  );
  fc.assert(
    fc.property(readings, (sequence) => {
      const { events } = run(sequence);
      assert.ok(events.every((event) => event.kind !== 'page'));
      const open = new Set<string>();
      for (const event of events) {
        if (event.kind === 'warn') {
          assert.ok(!open.has(event.incidentKey));
          open.add(event.incidentKey);
        } else {
          assert.ok(open.delete(event.incidentKey), 'a resolve closes an open warning');
        }
      }
      // Distinct losses in the sequence (each change of lostAt) are each warned once.
      let previous: string | null = null;
      let changes = 0;
      for (const reading of sequence) {
        if (reading !== null && reading.lostAt !== previous) {
          changes += 1;
          previous = reading.lostAt;
        }
      }
      assert.equal(events.filter((event) => event.kind === 'warn').length, changes);
    }),
  );
});
