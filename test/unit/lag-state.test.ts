import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { evaluateLag, initialAlertState, type AlertEvent, type LagThresholds, type SourceAlertState } from '../../src/monitoring/lag-state.js';

const thresholds: LagThresholds = { warnSeconds: 30, pageSeconds: 60, clearRatio: 0.5, clearChecks: 2 };

function run(lags: readonly (number | null)[], limits = thresholds): { events: AlertEvent[]; states: SourceAlertState[] } {
  let state = initialAlertState;
  const events: AlertEvent[] = [];
  const states: SourceAlertState[] = [];
  lags.forEach((lag, index) => {
    const result = evaluateLag('legacy', state, lag, limits, new Date(Date.UTC(2026, 10, 27, 12, 0, index)).toISOString());
    state = result.state;
    events.push(...result.events);
    states.push(state);
  });
  return { events, states };
}

test('a healthy source raises nothing', () => {
  assert.deepEqual(run([1, 5, 29.9, 0.2]).events, []);
});

test('ok → warning → paging → recovered, one event each', () => {
  const { events, states } = run([5, 31, 45, 61, 90, 120, 40, 10, 10, 3]);
  assert.deepEqual(
    events.map((event) => event.kind),
    ['warn', 'page', 'resolve'],
  );
  assert.deepEqual(
    states.map((state) => state.level),
    ['ok', 'warning', 'warning', 'paging', 'paging', 'paging', 'paging', 'paging', 'ok', 'ok'],
  );
  const [warn, page, resolve] = events;
  assert.equal(warn?.incidentKey, page?.incidentKey);
  assert.equal(page?.incidentKey, resolve?.incidentKey);
  assert.equal(resolve?.kind === 'resolve' && resolve.wasPaging, true);
});

test('a lag straight past the paging threshold warns and pages at once', () => {
  assert.deepEqual(run([200]).events.map((event) => [event.kind, event.thresholdSeconds]), [['warn', 30], ['page', 60]]);
});

test('hovering around a threshold does not flap', () => {
  // Between the clear level (15 s) and the warning threshold nothing changes; one dip alone does not resolve.
  const { events } = run([31, 29, 31, 29, 14, 31, 29, 14, 14]);
  assert.deepEqual(events.map((event) => event.kind), ['warn', 'resolve']);
});

test('a paging incident hovering under the paging threshold stays one incident', () => {
  const { events } = run([61, 59, 61, 59, 61, 20, 61]);
  assert.deepEqual(events.map((event) => event.kind), ['warn', 'page']);
});

test('no reading changes nothing', () => {
  assert.deepEqual(run([null, null, 61, null, null]).events.map((event) => event.kind), ['warn', 'page']);
});

test('property: pages and resolves alternate, never two pages without a resolve between', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant(null), fc.double({ min: 0, max: 200, noNaN: true })), { maxLength: 200 }), (lags) => {
      const { events } = run(lags);
      let open = false;
      let paged = false;
      for (const event of events) {
        if (event.kind === 'warn') {
          assert.equal(open, false, 'a warning opens an incident only when none is open');
          open = true;
          paged = false;
        } else if (event.kind === 'page') {
          assert.equal(open && !paged, true, 'one page per open incident');
          paged = true;
        } else {
          assert.equal(open, true, 'a resolve closes an open incident');
          assert.equal(event.wasPaging, paged);
          open = false;
        }
      }
    }),
  );
});
