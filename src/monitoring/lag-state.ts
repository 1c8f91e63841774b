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
}

export const initialAlertState: SourceAlertState = { level: 'ok', incidentKey: null, openedAt: null, clearStreak: 0 };

/** A quarantined room an alert is about (absent on lag alerts). */
export interface AlertRoom {
  readonly room: string;
  readonly reason: string;
}

interface AlertEventBase {
  readonly source: SourceName;
  readonly incidentKey: string;
  readonly lagSeconds: number;
  readonly thresholdSeconds: number;
  readonly quarantined?: AlertRoom;
}

export type AlertEvent =
  | (AlertEventBase & { readonly kind: 'warn' })
  | (AlertEventBase & { readonly kind: 'page' })
  | (AlertEventBase & { readonly kind: 'resolve'; readonly wasPaging: boolean });

export interface Evaluation {
  readonly state: SourceAlertState;
  readonly events: readonly AlertEvent[];
}

/**
 * ok → warning → paging → (recovered) ok, per source. One incident from the first
 * warning to the resolve: at most one page and one resolve each. Pure, so the
 * monitoring workflow replays it exactly.
 * `lagSeconds` null means no reading (the cursor has never been acked): no change.
 */
export function evaluateLag(
  source: SourceName,
  state: SourceAlertState,
  lagSeconds: number | null,
  thresholds: LagThresholds,
  nowIso: string,
): Evaluation {
  if (lagSeconds === null) return { state, events: [] };
  const events: AlertEvent[] = [];
  if (state.level === 'ok') {
    if (lagSeconds < thresholds.warnSeconds) return { state: { ...state, clearStreak: 0 }, events };
    const incidentKey = `room-sync/lag/${source}/${nowIso}`;
    events.push({ kind: 'warn', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.warnSeconds });
    if (lagSeconds >= thresholds.pageSeconds) {
      events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
      return { state: { level: 'paging', incidentKey, openedAt: nowIso, clearStreak: 0 }, events };
    }
    return { state: { level: 'warning', incidentKey, openedAt: nowIso, clearStreak: 0 }, events };
  }

  const incidentKey = state.incidentKey ?? `room-sync/lag/${source}/${nowIso}`;
  if (state.level === 'warning' && lagSeconds >= thresholds.pageSeconds) {
    events.push({ kind: 'page', source, incidentKey, lagSeconds, thresholdSeconds: thresholds.pageSeconds });
    return { state: { ...state, level: 'paging', incidentKey, clearStreak: 0 }, events };
  }
  const clearBelow = thresholds.warnSeconds * thresholds.clearRatio;
  if (lagSeconds >= clearBelow) return { state: { ...state, clearStreak: 0 }, events };
  const clearStreak = state.clearStreak + 1;
  if (clearStreak < thresholds.clearChecks) return { state: { ...state, clearStreak }, events };
  events.push({
    kind: 'resolve',
    source,
    incidentKey,
    lagSeconds,
    thresholdSeconds: state.level === 'paging' ? thresholds.pageSeconds : thresholds.warnSeconds,
    wasPaging: state.level === 'paging',
  });
  return { state: initialAlertState, events };
}
