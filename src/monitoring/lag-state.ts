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
  /** When this incident's catch-up grace began: lag over the paging threshold but falling fast. */
  readonly catchupSince?: string | null;
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
  readonly reconcile?: ReconcileSubject;
}

export type AlertEvent =
  | (AlertEventBase & { readonly kind: 'warn'; /** over the paging threshold, but falling fast: catching up */ readonly catchingUp?: true })
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
 */
export function catchupHold(
  state: SourceAlertState,
  lagSeconds: number,
  pageSeconds: number,
  nowIso: string,
  grace: CatchupGrace | undefined,
): { hold: boolean; since: string } {
  const since = state.catchupSince ?? nowIso;
  if (!grace || grace.graceSeconds <= 0) return { hold: false, since };
  const elapsed = secondsBetween(since, nowIso);
  const remaining = grace.graceSeconds - elapsed;
  if (remaining <= 0) return { hold: false, since };
  const previous = state.lastLagSeconds ?? null;
  const previousAt = state.lastCheckedAt ?? null;
  const gap = previousAt === null ? Infinity : secondsBetween(previousAt, nowIso);
  // No recent reading to compare with (first check, or after the monitor's own downtime): learn the trend first.
  if (previous === null || !(gap > 0) || gap > grace.trendWindowSeconds) return { hold: true, since };
  const fell = previous - lagSeconds;
  if (fell <= 0) return { hold: false, since }; // not falling: an outage in progress
  const rate = fell / gap; // lag shed per second
  const needed = (lagSeconds - pageSeconds) / rate;
  return { hold: needed <= remaining, since };
}

/**
 * ok → warning → paging → (recovered) ok, per source. One incident from the first
 * warning to the resolve: at most one page and one resolve each. Pure, so the
 * monitoring workflow replays it exactly.
 * `lagSeconds` null means no reading (the cursor has never been acked): no change.
 * With `grace`, a lag over the paging threshold that is falling fast is a warning for a
 * bounded time (CatchupGrace); without it, the behaviour of earlier releases exactly.
 */
export function evaluateLag(
  source: SourceName,
  state: SourceAlertState,
  lagSeconds: number | null,
  thresholds: LagThresholds,
  nowIso: string,
  grace?: CatchupGrace,
): Evaluation {
  if (lagSeconds === null) return { state, events: [] };
  const seen = { lastLagSeconds: lagSeconds, lastCheckedAt: nowIso };
  const events: AlertEvent[] = [];
  if (state.level === 'ok') {
    if (lagSeconds < thresholds.warnSeconds) return { state: { ...state, clearStreak: 0, ...seen }, events };
    const incidentKey = `room-sync/lag/${source}/${nowIso}`;
    const opened = { level: 'warning' as const, incidentKey, openedAt: nowIso, clearStreak: 0, ...seen };
    if (lagSeconds >= thresholds.pageSeconds) {
      const { hold, since } = catchupHold(state, lagSeconds, thresholds.pageSeconds, nowIso, grace);
      if (hold) {
        events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds, catchingUp: true });
        return { state: { ...opened, catchupSince: since }, events };
      }
      events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds });
      events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
      return { state: { ...opened, level: 'paging', catchupSince: null }, events };
    }
    events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds });
    return { state: { ...opened, catchupSince: null }, events };
  }

  const incidentKey = state.incidentKey ?? `room-sync/lag/${source}/${nowIso}`;
  if (state.level === 'warning' && lagSeconds >= thresholds.pageSeconds) {
    const { hold, since } = catchupHold(state, lagSeconds, thresholds.pageSeconds, nowIso, grace);
    if (hold) return { state: { ...state, incidentKey, clearStreak: 0, catchupSince: since, ...seen }, events };
    events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
    return { state: { ...state, level: 'paging', incidentKey, clearStreak: 0, ...seen }, events };
  }
  const clearBelow = thresholds.warnSeconds * thresholds.clearRatio;
  if (lagSeconds >= clearBelow) return { state: { ...state, clearStreak: 0, ...seen }, events };
  const clearStreak = state.clearStreak + 1;
  if (clearStreak < thresholds.clearChecks) return { state: { ...state, clearStreak, ...seen }, events };
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
