import type pg from 'pg';
import { say } from './progress.js';
import { describeStep, type StepFactory } from './ramp.js';
import type { StepResult } from './results.js';
import { runStep, type StepRig } from './step.js';
import { counterDeltas, isWorkflowTaskTrouble, scrapeMetrics } from './temporal-metrics.js';

export interface OverloadResult {
  readonly offered_per_s: number;
  /** The highest sustained rate it is twice of (null: given by --overload-rate). */
  readonly sustained_per_s: number | null;
  readonly seconds: number;
  /** Changes reflected per second in each 10 s window while the load ran, then during the drain. */
  readonly applied_per_s_by_10s: readonly number[];
  readonly applied_per_s_during_load: readonly number[];
  /** The lowest 10 s window during the load after the first, over the sustained rate. */
  readonly min_applied_ratio_to_sustained: number | null;
  /** The server's workflow task timeouts and failures over the phase, by series; and their sum. */
  readonly workflow_task_trouble: Readonly<Record<string, number>>;
  readonly workflow_task_trouble_total: number | null;
  /** Lag alerts the monitor opened during the phase (and whether each paged). */
  readonly alerts: readonly { readonly source: string; readonly severity: string; readonly paged: boolean; readonly lag_s: number }[];
  readonly paged: boolean;
  /** Changes not reflected when the load stopped, the time until every one was, and that rate. */
  readonly backlog_at_stop: number;
  readonly drain_s: number;
  readonly drain_per_s: number | null;
  readonly step: StepResult;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Twice the highest sustained rate for `seconds`, then the load stops: what is applied per
 * 10 s, workflow task timeouts and failures counted by the server, whether lag paged, and the
 * time to drain.
 */
export async function runOverloadPhase(
  rig: StepRig,
  makeStep: StepFactory,
  unified: pg.Pool,
  metricsUrl: string,
  settings: { readonly rate: number; readonly sustained: number | null; readonly seconds: number },
): Promise<OverloadResult> {
  const metricsBefore = await scrapeMetrics(metricsUrl).catch((error: unknown) => {
    say(`overload phase: could not read the Temporal server's metrics (${String(error)}); timeouts will not be counted`);
    return null;
  });
  const { rows: alertMark } = await unified.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM alerts');
  say(`overload phase: ${settings.rate}/s for ${settings.seconds}s${settings.sustained === null ? '' : ` (twice the highest sustained ${settings.sustained}/s)`}, then the load stops`);
  const base = makeStep('ours', 'overload', settings.rate);
  const step = await runStep(rig, { ...base, label: `ours overload ${settings.rate}/s`, seconds: settings.seconds, warmupS: 0, drainTimeoutS: Math.max(900, settings.seconds * 10) });
  say(describeStep(step));
  const metricsAfter = metricsBefore === null ? null : await scrapeMetrics(metricsUrl).catch(() => null);
  const trouble = metricsBefore && metricsAfter ? counterDeltas(metricsBefore, metricsAfter, isWorkflowTaskTrouble) : {};
  const { rows: alerts } = await unified.query<{ source: string; severity: string; paged: boolean; lag_s: number }>(
    `SELECT source, severity, paged_at IS NOT NULL AS paged, lag_seconds AS lag_s FROM alerts WHERE id > $1 AND subject = 'lag' ORDER BY id`,
    [alertMark[0]?.id ?? '0'],
  );
  const loadWindows = Math.ceil(settings.seconds / 10);
  const during = step.applied_per_10s.slice(0, loadWindows);
  const afterFirst = during.slice(1);
  const backlogAtStop = step.backlog.end;
  const result: OverloadResult = {
    offered_per_s: settings.rate,
    sustained_per_s: settings.sustained,
    seconds: step.seconds,
    applied_per_s_by_10s: step.applied_per_10s,
    applied_per_s_during_load: during,
    min_applied_ratio_to_sustained: settings.sustained && afterFirst.length > 0 ? round(Math.min(...afterFirst) / settings.sustained, 3) : null,
    workflow_task_trouble: trouble,
    workflow_task_trouble_total: metricsBefore && metricsAfter ? Object.values(trouble).reduce((sum, value) => sum + value, 0) : null,
    alerts,
    paged: alerts.some((alert) => alert.paged),
    backlog_at_stop: backlogAtStop,
    drain_s: step.drain_s,
    drain_per_s: step.drain_s > 0 ? round(backlogAtStop / step.drain_s, 1) : null,
    step,
  };
  say(
    `overload phase: applied/s per 10 s during the load ${during.join(', ')}; workflow task timeouts and failures ${result.workflow_task_trouble_total ?? 'not counted'}` +
      `${Object.keys(trouble).length > 0 ? ` (${JSON.stringify(trouble)})` : ''}; lag ${result.paged ? 'paged' : 'did not page'}; ` +
      `${backlogAtStop} changes behind at the stop, drained in ${result.drain_s}s (${result.drain_per_s ?? '?'}/s)`,
  );
  return result;
}
