import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { evaluateLag, initialAlertState, type AlertEvent, type CatchupGrace, type CatchupReading, type LagThresholds, type SourceAlertState } from '../../src/monitoring/lag-state.js';

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

// ---- catch-up grace ---------------------------------------------------------------------

const grace: CatchupGrace = { graceSeconds: 120, trendWindowSeconds: 20 };
const start = Date.UTC(2026, 11, 2, 9, 0, 0);

/** Readings at given seconds after `start`; with the grace unless told otherwise. */
/** `connectedAt`: seconds after `start` the connector connected, when it reports catching up. */
interface TimedReading {
  readonly t: number;
  readonly lag: number | null;
  readonly connectedAt?: number | null;
}

function runTimed(readings: readonly TimedReading[], options: { grace?: CatchupGrace; state?: SourceAlertState } = {}) {
  let state = options.state ?? initialAlertState;
  const events: AlertEvent[] = [];
  const states: SourceAlertState[] = [];
  for (const { t, lag, connectedAt = null } of readings) {
    const catchup: CatchupReading | null = connectedAt === null ? null : { connectedSecondsAgo: t - connectedAt };
    const result = evaluateLag('legacy', state, lag, thresholds, new Date(start + t * 1000).toISOString(), options.grace, catchup);
    state = result.state;
    events.push(...result.events);
    states.push(state);
  }
  return { events, states, kinds: events.map((event) => event.kind) };
}

test('grace: a restart after 15 minutes down, catching up fast, warns and resolves without a page', () => {
  // The monitor was down too: its last reading is from before the outage.
  const readings = [{ t: 0, lag: 1 }, { t: 900, lag: 900 }, { t: 905, lag: 700 }, { t: 910, lag: 480 }, { t: 915, lag: 260 }, { t: 920, lag: 40 }, { t: 925, lag: 3 }, { t: 930, lag: 2 }];
  const { events, kinds, states } = runTimed(readings, { grace });
  assert.deepEqual(kinds, ['warn', 'resolve']);
  assert.equal(events[0]?.kind === 'warn' && events[0].catchingUp, true);
  assert.equal(events[1]?.kind === 'resolve' && events[1].wasPaging, false);
  assert.deepEqual(states.map((state) => state.level), ['ok', 'warning', 'warning', 'warning', 'warning', 'warning', 'warning', 'ok']);
});

test('grace: the same restart without a grace pages at once (the behaviour of earlier releases)', () => {
  const readings = [{ t: 0, lag: 1 }, { t: 900, lag: 900 }, { t: 905, lag: 700 }, { t: 910, lag: 3 }, { t: 915, lag: 2 }];
  assert.deepEqual(runTimed(readings).kinds, ['warn', 'page', 'resolve']);
  assert.deepEqual(runTimed(readings, { grace: { graceSeconds: 0, trendWindowSeconds: 20 } }).kinds, ['warn', 'page', 'resolve']);
});

test('grace: an outage still in progress (lag rising) pages at the same check as before', () => {
  const rising = Array.from({ length: 20 }, (_, index) => ({ t: index * 5, lag: index * 5 }));
  const withGrace = runTimed(rising, { grace });
  const without = runTimed(rising);
  assert.deepEqual(withGrace.kinds, ['warn', 'page']);
  assert.deepEqual(withGrace.events, without.events);
});

test('grace: after downtime, a lag that does not fall pages one check later', () => {
  const { kinds, states } = runTimed([{ t: 0, lag: 1 }, { t: 900, lag: 900 }, { t: 905, lag: 905 }], { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
  assert.deepEqual(states.map((state) => state.level), ['ok', 'warning', 'paging']);
});

test('grace: a lag that falls, but too slowly to be under the threshold within the grace, pages', () => {
  // 900 s falling 5 s per 5 s check would need 840 s: far past the 120 s grace.
  const { kinds } = runTimed([{ t: 900, lag: 900 }, { t: 905, lag: 895 }], { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
});

test('grace: catching up that stalls pages', () => {
  const { kinds } = runTimed([{ t: 900, lag: 900 }, { t: 905, lag: 500 }, { t: 910, lag: 300 }, { t: 915, lag: 305 }], { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
});

test('grace: bounded: a lag still over the threshold when the grace ends pages', () => {
  // Falling, and each projection says it will be under the threshold in time, but it only
  // ever approaches it: what is over the threshold halves every check.
  const readings = Array.from({ length: 40 }, (_, index) => ({ t: index * 5, lag: thresholds.pageSeconds + 1000 * 0.5 ** index }));
  const { events, states } = runTimed(readings, { grace });
  const page = events.findIndex((event) => event.kind === 'page');
  assert.ok(page >= 0, 'pages');
  const pagedAt = states.findIndex((state) => state.level === 'paging');
  assert.ok(readings[pagedAt] !== undefined && readings[pagedAt].t >= 120 && readings[pagedAt].t <= 125, `paged at ${readings[pagedAt]?.t} s`);
});

test('grace: a reading missing in the middle keeps the incident as it was', () => {
  const { kinds } = runTimed([{ t: 900, lag: 900 }, { t: 905, lag: null }, { t: 910, lag: 300 }, { t: 915, lag: 5 }, { t: 920, lag: 4 }], { grace });
  assert.deepEqual(kinds, ['warn', 'resolve']);
});

test('grace: a state from an earlier release (no previous reading) holds one check to learn the trend', () => {
  const earlier: SourceAlertState = { level: 'warning', incidentKey: 'room-sync/lag/legacy/x', openedAt: 'x', clearStreak: 0 };
  assert.deepEqual(runTimed([{ t: 0, lag: 200 }, { t: 5, lag: 210 }], { grace, state: earlier }).kinds, ['page']);
  assert.deepEqual(runTimed([{ t: 0, lag: 200 }, { t: 5, lag: 100 }, { t: 10, lag: 5 }, { t: 15, lag: 5 }], { grace, state: earlier }).kinds, ['resolve']);
});

const timedReadings = fc
  .array(
    fc.record({
      dt: fc.double({ min: 0.5, max: 60, noNaN: true }),
      lag: fc.oneof(fc.constant(null), fc.double({ min: 0, max: 2_000, noNaN: true })),
      // Some readings say the connector is catching up, connected this long ago (some stale, past the grace).
      connectedAgo: fc.oneof(fc.constant(null), fc.double({ min: 0, max: 300, noNaN: true })),
    }),
    { maxLength: 120 },
  )
  .map((steps) => {
    let t = 0;
    return steps.map(({ dt, lag, connectedAgo }): TimedReading => {
      t += dt;
      return { t, lag, connectedAt: connectedAgo === null ? null : t - connectedAgo };
    });
  });

test('property: with a grace, pages and resolves still alternate, one page per incident', () => {
  fc.assert(
    fc.property(timedReadings, (readings) => {
      let open = false;
      let paged = false;
      for (const event of runTimed(readings, { grace }).events) {
        if (event.kind === 'warn') {
          assert.equal(open, false);
          open = true;
          paged = false;
        } else if (event.kind === 'page') {
          assert.equal(open && !paged, true);
          paged = true;
        } else {
          assert.equal(open, true);
          assert.equal(event.wasPaging, paged);
          open = false;
        }
      }
    }),
  );
});

test('property: the grace is bounded: over the paging threshold past the grace means paging', () => {
  fc.assert(
    fc.property(timedReadings, (readings) => {
      const { states } = runTimed(readings, { grace });
      states.forEach((state, index) => {
        const reading = readings[index];
        if (!reading || reading.lag === null || reading.lag < thresholds.pageSeconds || !state.catchupSince) return;
        const inGrace = (start + reading.t * 1000 - Date.parse(state.catchupSince)) / 1000;
        if (inGrace >= grace.graceSeconds) assert.equal(state.level, 'paging', `${reading.lag} s at ${reading.t} s, ${inGrace} s into the grace`);
      });
    }),
  );
});

test('property: a lag over the threshold that did not fall since a recent reading pages', () => {
  fc.assert(
    fc.property(timedReadings, (readings) => {
      const { states } = runTimed(readings, { grace });
      let previous: { t: number; lag: number } | null = null;
      readings.forEach((reading, index) => {
        if (reading.lag === null) return;
        // Judged by its trend: the connector does not report catching up (or its record is older than the grace).
        const catchingUp = reading.connectedAt !== null && reading.connectedAt !== undefined && reading.t - reading.connectedAt < grace.graceSeconds;
        if (!catchingUp && previous && reading.lag >= thresholds.pageSeconds && reading.lag >= previous.lag && reading.t - previous.t <= grace.trendWindowSeconds) {
          assert.equal(states[index]?.level, 'paging', `${previous.lag} → ${reading.lag} s`);
        }
        previous = { t: reading.t, lag: reading.lag };
      });
    }),
  );
});

test('property: without a grace, the timed readings raise what earlier releases raised', () => {
  fc.assert(
    fc.property(timedReadings, (readings) => {
      const withoutGrace = runTimed(readings).events;
      const zeroGrace = runTimed(readings, { grace: { graceSeconds: 0, trendWindowSeconds: 20 } }).events;
      assert.deepEqual(zeroGrace, withoutGrace);
      // Every reading over the paging threshold is paging at once.
      runTimed(readings).states.forEach((state, index) => {
        const lag = readings[index]?.lag;
        if (lag !== null && lag !== undefined && lag >= thresholds.pageSeconds) assert.equal(state.level, 'paging');
      });
    }),
  );
});

// ---- catching up after a restart: what the connector says -------------------------------

test('catch-up: an idle source restarted after 15 minutes down warns until its first heartbeat returns, then resolves: no page', () => {
  // Its lag stays at the downtime (it even grows) until the heartbeat written after the connection comes back through the slot.
  const readings: TimedReading[] = [
    { t: 0, lag: 1 },
    { t: 900, lag: 900, connectedAt: 899 },
    { t: 905, lag: 905, connectedAt: 899 },
    { t: 910, lag: 910, connectedAt: 899 },
    { t: 915, lag: 0.4 },
    { t: 920, lag: 0.3 },
  ];
  const { events, kinds } = runTimed(readings, { grace });
  assert.deepEqual(kinds, ['warn', 'resolve']);
  const warn = events[0];
  assert.equal(warn?.kind === 'warn' && warn.catchingUp, true);
  assert.equal(warn?.kind === 'warn' && warn.connectedSecondsAgo, 1);
  // The trend alone (no word from the connector) takes the lag that does not fall for an outage.
  assert.deepEqual(runTimed(readings.map(({ t, lag }) => ({ t, lag })), { grace }).kinds, ['warn', 'page', 'resolve']);
});

test('catch-up: a source with a backlog catching up slowly, but within the grace, warns and resolves', () => {
  // Too slow for the trend alone (it projects 170 s to be under the threshold), yet it reaches the position current at its connection.
  const readings: TimedReading[] = [900, 905, 910, 915, 920, 925, 930, 935, 940].map((t, index) => ({ t, lag: 900 - index * 5, connectedAt: 899 }));
  const done: TimedReading[] = [{ t: 945, lag: 2 }, { t: 950, lag: 1 }];
  assert.deepEqual(runTimed([...readings, ...done], { grace }).kinds, ['warn', 'resolve']);
  assert.deepEqual(runTimed([...readings, ...done].map(({ t, lag }) => ({ t, lag })), { grace }).kinds, ['warn', 'page', 'resolve']);
});

test('catch-up: not over within the grace pages, counted from the connection', () => {
  const readings: TimedReading[] = Array.from({ length: 40 }, (_, index) => ({ t: 900 + index * 5, lag: 900 - index, connectedAt: 880 }));
  const { states, kinds } = runTimed(readings, { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
  const pagedAt = readings[states.findIndex((state) => state.level === 'paging')]?.t;
  assert.equal(pagedAt, 1000, 'at the first check 120 s after the connection at 880 s');
});

test('catch-up: reconnecting does not stretch the grace', () => {
  // The connector reconnects every 30 s, each time reporting a fresh connection.
  const readings: TimedReading[] = Array.from({ length: 40 }, (_, index) => {
    const t = 900 + index * 5;
    return { t, lag: 900 - index, connectedAt: 900 + Math.floor(index / 6) * 30 };
  });
  const { states } = runTimed(readings, { grace });
  const pagedAt = readings[states.findIndex((state) => state.level === 'paging')]?.t;
  assert.equal(pagedAt, 1020, '120 s after the first connection');
});

test('catch-up: a lag that grows by the paging threshold while catching up pages (connected, but no progress)', () => {
  const readings: TimedReading[] = Array.from({ length: 20 }, (_, index) => ({ t: 900 + index * 5, lag: 900 + index * 5, connectedAt: 899 }));
  const { states, kinds } = runTimed(readings, { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
  const pagedAt = readings[states.findIndex((state) => state.level === 'paging')]?.t;
  assert.equal(pagedAt, 960, 'once the lag is 60 s over the lowest it had while catching up');
});

test('catch-up: a record of a connection older than the grace is stale: the trend judges', () => {
  const readings: TimedReading[] = [{ t: 0, lag: 1 }, { t: 900, lag: 900, connectedAt: 100 }, { t: 905, lag: 905, connectedAt: 100 }];
  assert.deepEqual(runTimed(readings, { grace }).kinds, ['warn', 'page']);
});

test('catch-up: a source still unreachable after the restart pages at the second check, as without the grace', () => {
  const readings: TimedReading[] = [{ t: 0, lag: 1 }, { t: 900, lag: 900 }, { t: 905, lag: 905 }, { t: 910, lag: 910 }];
  const { kinds, states } = runTimed(readings, { grace });
  assert.deepEqual(kinds, ['warn', 'page']);
  assert.deepEqual(states.map((state) => state.level), ['ok', 'warning', 'paging', 'paging']);
});

test('catch-up: without a grace (0 or none), the connector\'s word changes nothing', () => {
  const readings: TimedReading[] = [{ t: 0, lag: 1 }, { t: 900, lag: 900, connectedAt: 899 }, { t: 905, lag: 1, connectedAt: 899 }, { t: 910, lag: 1 }];
  assert.deepEqual(runTimed(readings).kinds, ['warn', 'page', 'resolve']);
  assert.deepEqual(runTimed(readings, { grace: { graceSeconds: 0, trendWindowSeconds: 20 } }).kinds, ['warn', 'page', 'resolve']);
});

/** After `downAt` seconds of downtime the connector connects at `connectedAt` and reports catching up at each reading. */
const catchingUpRun = fc
  .record({
    downFor: fc.double({ min: 0, max: 3_600, noNaN: true }),
    connectAfter: fc.double({ min: 0, max: 30, noNaN: true }),
    steps: fc.array(
      fc.record({
        dt: fc.double({ min: 0.5, max: 30, noNaN: true }),
        // how far above the lowest lag so far (never by the paging threshold), or below it
        rise: fc.oneof(fc.double({ min: -300, max: 0, noNaN: true }), fc.double({ min: 0, max: thresholds.pageSeconds - 0.001, noNaN: true })),
        reconnect: fc.boolean(),
        missing: fc.boolean(),
      }),
      { minLength: 1, maxLength: 60 },
    ),
  })
  .map(({ downFor, connectAfter, steps }) => {
    const connectedAt = downFor + connectAfter;
    let t = connectedAt;
    let lowest = downFor + connectAfter;
    let connection = connectedAt;
    const readings: TimedReading[] = [{ t: 0, lag: 0.5 }];
    for (const { dt, rise, reconnect, missing } of steps) {
      if (t + dt - connectedAt >= grace.graceSeconds) break;
      t += dt;
      if (reconnect) connection = t;
      const lag = Math.max(0, lowest + rise);
      lowest = Math.min(lowest, lag);
      // A missing reading is not seen by the monitor; counting it in `lowest` only makes the bound stricter.
      readings.push({ t, lag: missing ? null : lag, connectedAt: connection });
    }
    return readings;
  });

test('property: never pages while catching up within the grace and the lag not growing by the paging threshold', () => {
  fc.assert(
    fc.property(catchingUpRun, (readings) => {
      const { kinds, states } = runTimed(readings, { grace });
      assert.ok(!kinds.includes('page'), `paged: ${JSON.stringify(readings)}`);
      assert.ok(states.every((state) => state.level !== 'paging'));
    }),
  );
});

test('property: always pages when unreachable past the paging threshold (whatever came before)', () => {
  fc.assert(
    fc.property(timedReadings, fc.double({ min: 0.5, max: grace.trendWindowSeconds, noNaN: true }), fc.integer({ min: 2, max: 10 }), (before, interval, checks) => {
      const last = before.at(-1)?.t ?? 0;
      const downFrom = last + 1;
      // No connector reading: the lag grows with the clock from the paging threshold on.
      const outage: TimedReading[] = Array.from({ length: checks }, (_, index) => {
        const t = downFrom + thresholds.pageSeconds + index * interval;
        return { t, lag: t - downFrom };
      });
      const { states } = runTimed([...before, ...outage], { grace });
      assert.equal(states.at(-1)?.level, 'paging');
    }),
  );
});
