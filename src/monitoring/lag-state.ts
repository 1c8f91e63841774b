import type { SourceName } from '../domain/room.js';

export interface LagThresholds {
  readonly warnSeconds: number;
  readonly pageSeconds: number;
  /** An incident ends only when lag is under warnSeconds × clearRatio ... */
  readonly clearRatio: number;
  /** ... for this many checks in a row: a source hovering at a threshold does not flap. */
  readonly clearChecks: number;
}

export type AlertLevel = 'ok' | 'warning' | 'paging';

export interface SourceAlertState {
  readonly level: AlertLevel;
  /** Identifies the open incident (dedup key for pagers); null when ok. */
  readonly incidentKey: string | null;
  readonly openedAt: string | null;
  readonly clearStreak: number;
  /** The previous reading, which the catch-up trend is judged against (absent in states of earlier releases). */
  readonly lastLagSeconds?: number | null;
  readonly lastCheckedAt?: string | null;
  /** When this incident's catch-up grace began: lag over the paging threshold but falling fast, or the connector catching up. */
  readonly catchupSince?: string | null;
  /** The lowest lag read while the connector reported catching up in this incident: a lag grown past it by the paging threshold is an outage again. */
  readonly catchupLowestLag?: number | null;
}

/**
 * Catch-up grace. After downtime the lag is high but falls fast while the connectors catch up:
 * an outage that is already over. While a lag over the paging threshold falls fast enough to
 * be under it before the grace ends, the incident is a warning, not a page. A lag that is not
 * falling pages as before; so does one still over the threshold once the grace (counted from
 * the incident's first such reading) is spent.
 */
export interface CatchupGrace {
  readonly graceSeconds: number;
  /**
   * A previous reading older than this says nothing about the trend now (the monitor itself
   * was down in between): the reading is held one check, as a warning, to learn the trend.
   */
  readonly trendWindowSeconds: number;
}

/**
 * What the connector says of a source after it (re)connected: it is catching up from the moment
 * it is connected and reading until it has acked the WAL position current then (an idle source:
 * until its first heartbeat since returns). Null when it is not catching up (caught up, or not
 * connected at all).
 */
export interface CatchupReading {
  /** Seconds since the connector connected, by the clock that measured the lag. */
  readonly connectedSecondsAgo: number;
}

/** A catching-up reading the grace may hold: the connection is younger than the grace (an older one is a stale record). */
function freshCatchup(catchup: CatchupReading | null, grace: CatchupGrace | undefined): catchup is CatchupReading {
  return catchup !== null && grace !== undefined && grace.graceSeconds > 0 && catchup.connectedSecondsAgo >= 0 && catchup.connectedSecondsAgo < grace.graceSeconds;
}

export const initialAlertState: SourceAlertState = { level: 'ok', incidentKey: null, openedAt: null, clearStreak: 0 };

/** A quarantined room an alert is about (absent on lag alerts). */
export interface AlertRoom {
  readonly room: string;
  readonly reason: string;
}

/** What an alert about the monitor's own checks is about (absent on lag and quarantine alerts). */
export interface MonitorCheckSubject {
  /** `checks-failing`: the monitor's check failed (unified database unreadable); `source-unreadable`: one source's slot could not be read. */
  readonly check: 'checks-failing' | 'source-unreadable';
  /** The last failure, scrubbed of secrets by the activity that saw it. */
  readonly error: string;
}

/** A slot the connector found lost (dropped, or invalidated past max_slot_wal_keep_size) and replaced by a fresh slot and snapshot. */
export interface SlotLostSubject {
  readonly reason: 'dropped' | 'invalidated';
  readonly lostAt: string;
  readonly resnapshotCompletedAt: string | null;
}

/** What a reconcile alert is about (absent on every other alert): rooms that differ from a source. */
export interface ReconcileSubject {
  /** Rooms found drifted, missing or extra, confirmed. */
  readonly rooms: number;
  /** A few of them, `HOTEL/ROOM`. */
  readonly sample: readonly string[];
}

interface AlertEventBase {
  /** The source the alert is about; null on the monitor's own `checks-failing` incident. */
  readonly source: SourceName | null;
  readonly incidentKey: string;
  /** The lag; on a monitor-check alert, how long the checks have been failing. */
  readonly lagSeconds: number;
  readonly thresholdSeconds: number;
  readonly quarantined?: AlertRoom;
  readonly monitor?: MonitorCheckSubject;
  /** A lost replication slot and its re-snapshot (absent on every other alert). */
  readonly slotLost?: SlotLostSubject;
  /** Rooms a reconcile found differing from a live source (absent on every other alert). */
  readonly reconcile?: ReconcileSubject;
}

export type AlertEvent =
  | (AlertEventBase & {
      readonly kind: 'warn';
      /** over the paging threshold, but falling fast or the connector catching up: a warning for now */
      readonly catchingUp?: true;
      /** set when the connector reported catching up: how long ago it connected */
      readonly connectedSecondsAgo?: number;
    })
  | (AlertEventBase & { readonly kind: 'page' })
  | (AlertEventBase & { readonly kind: 'resolve'; readonly wasPaging: boolean });

export interface Evaluation {
  readonly state: SourceAlertState;
  readonly events: readonly AlertEvent[];
}

const secondsBetween = (fromIso: string, toIso: string): number => (Date.parse(toIso) - Date.parse(fromIso)) / 1000;

/**
 * Whether a reading over the paging threshold is held as a warning (catching up), and since when
 * the incident's grace runs. Pure; see CatchupGrace.
 *
 * With `catchup` (the connector is catching up after connecting): held while the grace, counted
 * from the incident's first catching-up connection (or its first held reading, if earlier), lasts,
 * unless the lag has grown by the paging threshold over the lowest lag read while catching up (no
 * progress: an outage again). A connection older than the grace when first seen says nothing (a
 * stale record of a connector that is gone): the reading is judged by its trend alone.
 * Without: held while the lag falls fast enough to be under the threshold before the grace ends.
 */
export function catchupHold(
  state: SourceAlertState,
  lagSeconds: number,
  pageSeconds: number,
  nowIso: string,
  grace: CatchupGrace | undefined,
  catchup: CatchupReading | null = null,
): { hold: boolean; since: string; lowestLag: number | null } {
  const stateLowest = state.catchupLowestLag ?? null;
  const fresh = freshCatchup(catchup, grace);
  const connectedAt = fresh ? new Date(Date.parse(nowIso) - catchup.connectedSecondsAgo * 1000).toISOString() : null;
  const earliest = [state.catchupSince ?? null, connectedAt].filter((value): value is string => value !== null).sort()[0];
  const since = earliest ?? nowIso;
  if (!grace || grace.graceSeconds <= 0) return { hold: false, since, lowestLag: stateLowest };
  const elapsed = secondsBetween(since, nowIso);
  const remaining = grace.graceSeconds - elapsed;
  if (remaining <= 0) return { hold: false, since, lowestLag: stateLowest };
  if (fresh) {
    const lowestLag = Math.min(stateLowest ?? lagSeconds, lagSeconds);
    return { hold: lagSeconds - lowestLag < pageSeconds, since, lowestLag };
  }
  const previous = state.lastLagSeconds ?? null;
  const previousAt = state.lastCheckedAt ?? null;
  const gap = previousAt === null ? Infinity : secondsBetween(previousAt, nowIso);
  // No recent reading to compare with (first check, or after the monitor's own downtime): learn the trend first.
  if (previous === null || !(gap > 0) || gap > grace.trendWindowSeconds) return { hold: true, since, lowestLag: stateLowest };
  const fell = previous - lagSeconds;
  if (fell <= 0) return { hold: false, since, lowestLag: stateLowest }; // not falling: an outage in progress
  const rate = fell / gap; // lag shed per second
  const needed = (lagSeconds - pageSeconds) / rate;
  return { hold: needed <= remaining, since, lowestLag: stateLowest };
}

/**
 * ok → warning → paging → (recovered) ok, per source. One incident from the first
 * warning to the resolve: at most one page and one resolve each. Pure, so the
 * monitoring workflow replays it exactly.
 * `lagSeconds` null means no reading (the cursor has never been acked): no change.
 * With `grace`, a lag over the paging threshold that is falling fast, or whose connector is
 * catching up (`catchup`), is a warning for a bounded time (CatchupGrace, catchupHold);
 * without it, the behaviour of earlier releases exactly.
 */
export function evaluateLag(
  source: SourceName,
  state: SourceAlertState,
  lagSeconds: number | null,
  thresholds: LagThresholds,
  nowIso: string,
  grace?: CatchupGrace,
  catchup: CatchupReading | null = null,
): Evaluation {
  if (lagSeconds === null) return { state, events: [] };
  const seen = { lastLagSeconds: lagSeconds, lastCheckedAt: nowIso };
  const events: AlertEvent[] = [];
  // Readings under the paging threshold still set the baseline a catching-up lag must not grow past.
  const catchingUp = freshCatchup(catchup, grace);
  const catchupNote = catchingUp ? { catchingUp: true as const, connectedSecondsAgo: catchup.connectedSecondsAgo } : {};
  const lowest = (current: SourceAlertState): { catchupLowestLag?: number | null } =>
    catchingUp ? { catchupLowestLag: Math.min(current.catchupLowestLag ?? lagSeconds, lagSeconds) } : {};
  if (state.level === 'ok') {
    if (lagSeconds < thresholds.warnSeconds) return { state: { ...state, clearStreak: 0, ...seen }, events };
    const incidentKey = `room-sync/lag/${source}/${nowIso}`;
    const opened = { level: 'warning' as const, incidentKey, openedAt: nowIso, clearStreak: 0, ...seen };
    if (lagSeconds >= thresholds.pageSeconds) {
      const { hold, since, lowestLag } = catchupHold(state, lagSeconds, thresholds.pageSeconds, nowIso, grace, catchup);
      if (hold) {
        events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds, catchingUp: true, ...catchupNote });
        return { state: { ...opened, catchupSince: since, ...(lowestLag === null ? {} : { catchupLowestLag: lowestLag }) }, events };
      }
      events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds });
      events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
      return { state: { ...opened, level: 'paging', catchupSince: null }, events };
    }
    events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds, ...catchupNote });
    return { state: { ...opened, catchupSince: null, ...lowest(opened) }, events };
  }

  const incidentKey = state.incidentKey ?? `room-sync/lag/${source}/${nowIso}`;
  if (state.level === 'warning' && lagSeconds >= thresholds.pageSeconds) {
    const { hold, since, lowestLag } = catchupHold(state, lagSeconds, thresholds.pageSeconds, nowIso, grace, catchup);
    if (hold) return { state: { ...state, incidentKey, clearStreak: 0, catchupSince: since, ...(lowestLag === null ? {} : { catchupLowestLag: lowestLag }), ...seen }, events };
    events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
    return { state: { ...state, level: 'paging', incidentKey, clearStreak: 0, ...seen }, events };
  }
  const clearBelow = thresholds.warnSeconds * thresholds.clearRatio;
  if (lagSeconds >= clearBelow) return { state: { ...state, clearStreak: 0, ...seen, ...lowest(state) }, events };
  const clearStreak = state.clearStreak + 1;
  if (clearStreak < thresholds.clearChecks) return { state: { ...state, clearStreak, ...seen, ...lowest(state) }, events };
  events.push({
    kind: 'resolve',
    source,
    incidentKey,
    lagSeconds,
    thresholdSeconds: state.level === 'paging' ? thresholds.pageSeconds : thresholds.warnSeconds,
    wasPaging: state.level === 'paging',
  });
  return { state: { ...initialAlertState, ...seen }, events };
}
