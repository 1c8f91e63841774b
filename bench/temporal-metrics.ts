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
 * The server's counters of the default namespace's workflow tasks that timed out or failed:
 * `start_to_close_timeout` / `schedule_to_start_timeout` of the history service's
 * TimerActiveTaskWorkflowTaskTimeout (a task not completed in time; schedule-to-start is a
 * sticky queue's), and `failed_workflow_tasks` (tasks the worker reported failed), as the
 * Temporal CLI 1.5 dev server names them.
 */
export function isWorkflowTaskTrouble(series: string): boolean {
  const name = series.split('{')[0] ?? '';
  if (!series.includes('namespace="default"')) return false;
  if (name === 'start_to_close_timeout' || name === 'schedule_to_start_timeout') return series.includes('operation="TimerActiveTaskWorkflowTaskTimeout"');
  return name === 'failed_workflow_tasks';
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
