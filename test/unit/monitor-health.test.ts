import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildPayload, describeEvent, pagerDedupKey } from '../../src/monitoring/channels.js';
import type { AlertEvent, LagThresholds } from '../../src/monitoring/lag-state.js';
import { evaluateCheckHealth, initialCheckHealth, minimumFailuresToPage, type CheckHealthState, type CheckSubject } from '../../src/monitoring/monitor-health.js';

const thresholds: LagThresholds = { warnSeconds: 30, pageSeconds: 60, clearRatio: 0.5, clearChecks: 2 };
const start = Date.UTC(2026, 11, 2, 9, 0, 0);
const iso = (seconds: number) => new Date(start + seconds * 1000).toISOString();

/** Checks every `interval` s, each taking `duration` s: true = the check worked. */
function run(outcomes: readonly boolean[], { interval = 5, duration = 1.5, subject }: { interval?: number; duration?: number; subject?: CheckSubject } = {}) {
  const about: CheckSubject = subject ?? { kind: 'checks' };
  let state: CheckHealthState = initialCheckHealth;
  const events: AlertEvent[] = [];
  const states: CheckHealthState[] = [];
  outcomes.forEach((ok, index) => {
    const startedAt = index * (interval + duration);
    const result = evaluateCheckHealth(about, state, ok ? { ok: true } : { ok: false, error: 'connect ECONNREFUSED 127.0.0.1:5432', startedAt: iso(startedAt) }, thresholds, iso(startedAt + duration));
    state = result.state;
    events.push(...result.events);
    states.push(state);
  });
  return { events, states, kinds: events.map((event) => event.kind) };
}

const failing = (count: number) => Array.from({ length: count }, () => false);
const working = (count: number) => Array.from({ length: count }, () => true);

test('checks that keep working raise nothing', () => {
  assert.deepEqual(run(working(50)).events, []);
});

test('checks failing warn at the warning threshold, page at the paging threshold, resolve once they work again', () => {
  // A check every 6.5 s, 1.5 s each: failing for 34 s at the 6th failure (the warning), 60 s at the 10th (the page).
  const { events, states } = run([...failing(12), ...working(3)]);
  assert.deepEqual(events.map((event) => event.kind), ['warn', 'page', 'resolve']);
  assert.equal(states.findIndex((state) => state.level === 'warning'), 5);
  assert.equal(states.findIndex((state) => state.level === 'paging'), 9);
  const [warn, page, resolve] = events;
  assert.equal(warn?.incidentKey, page?.incidentKey);
  assert.equal(page?.incidentKey, resolve?.incidentKey);
  assert.match(page?.incidentKey ?? '', /^room-sync\/monitor\/checks-failing\//);
  assert.equal(page?.source, null);
  assert.equal(page?.monitor?.check, 'checks-failing');
  assert.match(page?.monitor?.error ?? '', /ECONNREFUSED/);
  assert.ok((page?.lagSeconds ?? 0) >= thresholds.pageSeconds);
  assert.equal(resolve?.kind === 'resolve' && resolve.wasPaging, true);
  assert.equal(states.at(-1)?.level, 'ok');
});

test('one failed check, however long Temporal retried it, does not page alone', () => {
  const { kinds } = run([false, true, true], { duration: 90 });
  assert.deepEqual(kinds, ['warn', 'resolve']);
  const twice = run([false, false], { duration: 90 });
  assert.deepEqual(twice.kinds, ['warn', 'page']);
  assert.equal(minimumFailuresToPage, 2);
});

test('a success in the middle of failures starts the failing time again; a paging incident stays one incident', () => {
  // Failing 8 checks (52 s), one success, 8 more: never 60 s in a row, so no page.
  assert.deepEqual(run([...failing(8), true, ...failing(8), ...working(2)]).kinds, ['warn', 'resolve']);
  // Paging, one success (the clear needs two), failing again: still the one incident, no second page.
  assert.deepEqual(run([...failing(11), true, ...failing(11), ...working(2)]).kinds, ['warn', 'page', 'resolve']);
});

test('a source the monitor cannot read pages for that source, apart from its lag', () => {
  const { events } = run([...failing(11), ...working(2)], { subject: { kind: 'source', source: 'cloud' } });
  const page = events.find((event) => event.kind === 'page');
  assert.ok(page);
  assert.equal(page.source, 'cloud');
  assert.equal(page.monitor?.check, 'source-unreadable');
  assert.match(page.incidentKey, /^room-sync\/monitor\/source-unreadable\/cloud\//);
  assert.equal(pagerDedupKey(page), 'room-sync/monitor/source-unreadable/cloud');
  assert.match(describeEvent(page), /cannot read the cloud database/);
  const payload = buildPayload({ name: 'pagerduty', kind: 'pagerduty', url: 'http://127.0.0.1/', routingKey: 'key' }, page, iso(0)) as Record<string, unknown>;
  assert.equal(payload['dedup_key'], 'room-sync/monitor/source-unreadable/cloud');
  assert.equal((payload['payload'] as Record<string, unknown>)['severity'], 'critical');
});

test('the monitor-check page reaches pagers under a key of its own', () => {
  const page = run(failing(11)).events.find((event) => event.kind === 'page');
  assert.ok(page);
  assert.equal(pagerDedupKey(page), 'room-sync/monitor/checks-failing');
  assert.match(describeEvent(page), /cannot check the pipeline/);
  const webhook = buildPayload({ name: 'webhook-1', kind: 'webhook', url: 'http://127.0.0.1/' }, page, iso(0)) as Record<string, unknown>;
  assert.equal(webhook['type'], 'room-sync.monitor.page');
  assert.equal(webhook['check'], 'checks-failing');
});

test('property: one page per incident, resolves alternate with incidents, and a long enough run of failures always pages', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { maxLength: 200 }), fc.double({ min: 0.5, max: 30, noNaN: true }), (outcomes, interval) => {
      const { events, states } = run(outcomes, { interval, duration: 1 });
      let open = false;
      let paged = false;
      for (const event of events) {
        if (event.kind === 'warn') {
          assert.equal(open, false);
          open = true;
          paged = false;
        } else if (event.kind === 'page') {
          if (!open) open = true; // a page may open the incident together with its warning
          assert.equal(paged, false);
          paged = true;
        } else {
          assert.equal(open, true);
          assert.equal(event.wasPaging, paged);
          open = false;
        }
      }
      // Failing for the paging threshold (and at least twice) in a row means paging.
      let run_ = 0;
      let since = 0;
      outcomes.forEach((ok, index) => {
        const startedAt = index * (interval + 1);
        if (ok) {
          run_ = 0;
          return;
        }
        if (run_ === 0) since = startedAt;
        run_ += 1;
        if (run_ >= minimumFailuresToPage && startedAt + 1 - since >= thresholds.pageSeconds) assert.equal(states[index]?.level, 'paging');
      });
    }),
  );
});
