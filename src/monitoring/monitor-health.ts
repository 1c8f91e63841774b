import type { SourceName } from '../domain/room.js';
import type { AlertEvent, AlertLevel, LagThresholds, MonitorCheckSubject } from './lag-state.js';

/**
 * The monitor's own health: a check that could not be made is a reading of "unknown", and
 * unknown for long enough pages like a lag would. One state machine for the monitor's check
 * as a whole (`room-sync/monitor/checks-failing`: the unified database unreadable, so no
 * source can be judged) and one per source whose slot read fails while the rest of the check
 * works (`room-sync/monitor/source-unreadable/<source>`).
 *
 * The failing time counts from the start of the first failed check of a run of them; it warns
 * at the warning threshold, and pages at the paging threshold once at least two checks in a
 * row failed (one check, which Temporal already retried, failing alone never pages). The
 * incident resolves after `clearChecks` successful checks in a row. Pure, so the monitor
 * workflow replays it exactly.
 */
export interface CheckHealthState {
  readonly level: AlertLevel;
  readonly incidentKey: string | null;
  readonly openedAt: string | null;
  /** Start of the first check of the current run of failures; null while checks succeed. */
  readonly failingSince: string | null;
  readonly failures: number;
  readonly clearStreak: number;
  readonly lastError: string | null;
}

export const initialCheckHealth: CheckHealthState = {
  level: 'ok',
  incidentKey: null,
  openedAt: null,
  failingSince: null,
  failures: 0,
  clearStreak: 0,
  lastError: null,
};

export interface MonitorHealth {
  readonly checks: CheckHealthState;
  readonly sources: Readonly<Record<SourceName, CheckHealthState>>;
}

export const initialMonitorHealth: MonitorHealth = { checks: initialCheckHealth, sources: { legacy: initialCheckHealth, cloud: initialCheckHealth } };

export type CheckSubject = { readonly kind: 'checks' } | { readonly kind: 'source'; readonly source: SourceName };

export type CheckOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string; /** when the failed check began */ readonly startedAt: string };

/** Failed checks in a row before a page, whatever the time: one failure alone never pages. */
export const minimumFailuresToPage = 2;

export function checkIncidentKey(subject: CheckSubject, nowIso: string): string {
  return subject.kind === 'checks' ? `room-sync/monitor/checks-failing/${nowIso}` : `room-sync/monitor/source-unreadable/${subject.source}/${nowIso}`;
}

const secondsBetween = (fromIso: string, toIso: string): number => Math.max(0, (Date.parse(toIso) - Date.parse(fromIso)) / 1000);

export function evaluateCheckHealth(
  subject: CheckSubject,
  state: CheckHealthState,
  outcome: CheckOutcome,
  thresholds: LagThresholds,
  nowIso: string,
): { state: CheckHealthState; events: AlertEvent[] } {
  const events: AlertEvent[] = [];
  const source = subject.kind === 'source' ? subject.source : null;
  const about = (error: string): MonitorCheckSubject => ({ check: subject.kind === 'checks' ? 'checks-failing' : 'source-unreadable', error });

  if (outcome.ok) {
    const recovered = { ...state, failingSince: null, failures: 0 };
    if (state.level === 'ok') return { state: { ...recovered, clearStreak: 0, lastError: null }, events };
    const clearStreak = state.clearStreak + 1;
    if (clearStreak < thresholds.clearChecks) return { state: { ...recovered, clearStreak }, events };
    const failedFor = state.openedAt === null ? 0 : secondsBetween(state.openedAt, nowIso);
    events.push({
      kind: 'resolve',
      source,
      incidentKey: state.incidentKey ?? checkIncidentKey(subject, nowIso),
      lagSeconds: 0,
      thresholdSeconds: state.level === 'paging' ? thresholds.pageSeconds : thresholds.warnSeconds,
      wasPaging: state.level === 'paging',
      monitor: about(state.lastError ?? `recovered after ${failedFor.toFixed(0)} s`),
    });
    return { state: initialCheckHealth, events };
  }

  const failingSince = state.failingSince ?? outcome.startedAt;
  const failures = state.failures + 1;
  const failingFor = secondsBetween(failingSince, nowIso);
  const failing = { ...state, failingSince, failures, clearStreak: 0, lastError: outcome.error };
  const pages = failingFor >= thresholds.pageSeconds && failures >= minimumFailuresToPage;
  if (state.level === 'ok') {
    if (failingFor < thresholds.warnSeconds && !pages) return { state: failing, events };
    const incidentKey = checkIncidentKey(subject, nowIso);
    events.push({ kind: 'warn', source, incidentKey, lagSeconds: failingFor, thresholdSeconds: thresholds.warnSeconds, monitor: about(outcome.error) });
    if (!pages) return { state: { ...failing, level: 'warning', incidentKey, openedAt: nowIso }, events };
    events.push({ kind: 'page', source, incidentKey, lagSeconds: failingFor, thresholdSeconds: thresholds.pageSeconds, monitor: about(outcome.error) });
    return { state: { ...failing, level: 'paging', incidentKey, openedAt: nowIso }, events };
  }
  if (state.level === 'warning' && pages) {
    const incidentKey = state.incidentKey ?? checkIncidentKey(subject, nowIso);
    events.push({ kind: 'page', source, incidentKey, lagSeconds: failingFor, thresholdSeconds: thresholds.pageSeconds, monitor: about(outcome.error) });
    return { state: { ...failing, level: 'paging', incidentKey }, events };
  }
  return { state: failing, events };
}
