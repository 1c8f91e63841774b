/** One Prometheus text-format scrape: series (name and labels as printed) → value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const series = new Map<string, number>();
  if (url === '') return series;
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    const value = Number(line.slice(cut + 1));
    if (Number.isFinite(value)) series.set(line.slice(0, cut), value);
  }
  return series;
}

/**
 * The server's counters of workflow tasks that timed out or failed: the history service's
 * timer-queue timeouts of workflow tasks (schedule-to-start on a sticky queue, start-to-close)
 * and the tasks the worker reported failed.
 */
export function isWorkflowTaskTrouble(series: string): boolean {
  if (series.includes('_bucket{') || series.includes('_sum{') || series.includes('_count{')) return false;
  return /WorkflowTaskTimeout|workflow_task_timeout|workflow_task_failed|RespondWorkflowTaskFailed|workflow_task_attempt_failed/i.test(series) && /timeout|fail/i.test(series.split('{')[0] ?? '') || /operation="RespondWorkflowTaskFailed"/.test(series) && /^service_requests\{/.test(series);
}

/** Counter increases between two scrapes, of the series the filter keeps, zero deltas left out. */
export function counterDeltas(before: Map<string, number>, after: Map<string, number>, keep: (series: string) => boolean): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const [series, value] of after) {
    if (!keep(series)) continue;
    const delta = value - (before.get(series) ?? 0);
    if (delta > 0) deltas[series] = delta;
  }
  return deltas;
}
