import type { StepResult } from './results.js';
import type { BenchSummary } from './summary.js';
import { totalCpuMsPerChange } from './summary.js';
import { show } from './table.js';

/** The headline comparison: ours, the baseline, and their ratio. */
export function headlineRows(summary: BenchSummary): string[][] {
  const b = summary.baseline;
  const fixedOurs = summary.steps.find((step) => step.target === 'ours' && step.phase === 'fixed') ?? null;
  const fixedBaseline = summary.steps.find((step) => step.target === 'baseline' && step.phase === 'fixed') ?? null;
  const ratio = (a: number | null | undefined, c: number | null | undefined) => (a == null || c == null || c === 0 ? '-' : (a / c).toFixed(2));
  const costOurs = summary.cost.ours_at_max;
  const costBaseline = summary.cost.baseline_at_max;
  return [
    [`p50 at ${summary.rate_target}/s (ms)`, show(summary.p50_ms), show(b?.p50_ms_fixed), ratio(summary.p50_ms, b?.p50_ms_fixed)],
    [`p95 at ${summary.rate_target}/s (ms)`, show(summary.p95_ms), show(fixedBaseline?.latency.p95_ms), ratio(summary.p95_ms, fixedBaseline?.latency.p95_ms)],
    [`p99 at ${summary.rate_target}/s (ms)`, show(summary.p99_ms), show(b?.p99_ms_fixed), ratio(summary.p99_ms, b?.p99_ms_fixed)],
    [`max at ${summary.rate_target}/s (ms)`, show(summary.max_ms), show(b?.max_ms_fixed), ratio(summary.max_ms, b?.max_ms_fixed)],
    ['max sustained in the ramp (changes/s)', show(summary.max_sustained_per_s), `${b?.max_is_lower_bound ? '>=' : ''}${show(b?.max_sustained_per_s)}`, summary.throughput_ratio_basis === 'ramp' ? show(summary.throughput_ratio_to_baseline) : ratio(summary.max_sustained_per_s, b?.max_sustained_per_s)],
    [`drain of ${summary.drain.ours?.changes ?? '-'} queued changes (changes/s)${summary.throughput_ratio_basis === 'drain' ? ': the throughput ratio' : ''}`, show(summary.drain.ours?.per_s), show(summary.drain.baseline?.per_s), show(summary.drain.throughput_ratio_to_baseline)],
    ['p99 at max sustained (ms)', show(summary.p99_ms_at_max), show(b?.p99_ms), ratio(summary.p99_ms_at_max, b?.p99_ms)],
    ['backlog growing at max', String(summary.backlog_growing), b ? 'false' : '-', ''],
    [`CPU ms/change at ${summary.rate_target}/s (pipeline + its Postgres)`, show(totalCpuMsPerChange(fixedOurs)), show(totalCpuMsPerChange(fixedBaseline)), ratio(totalCpuMsPerChange(fixedOurs), totalCpuMsPerChange(fixedBaseline))],
    ['CPU ms/change at max (pipeline + its Postgres)', show(costOurs?.pipeline_cpu_ms_per_change), show(costBaseline?.pipeline_cpu_ms_per_change), ratio(costOurs?.pipeline_cpu_ms_per_change, costBaseline?.pipeline_cpu_ms_per_change)],
    ['unified DB transactions/change at max', show(costOurs?.unified_xacts_per_change), show(costBaseline?.unified_xacts_per_change), ratio(costOurs?.unified_xacts_per_change, costBaseline?.unified_xacts_per_change)],
    ['peak RSS MiB: worker / connectors / Temporal', `${show(summary.peak_rss_mib.worker)} / ${show(summary.peak_rss_mib.connectors)} / ${show(summary.peak_rss_mib.temporal)}`, show(b?.peak_rss_mib), ''],
    [`worker RSS MiB, ${summary.workflows?.touched ?? '-'} rooms in ${summary.workflows?.open_room_workflows ?? '-'} workflows`, show(summary.workflows?.worker_rss_mib), '', ''],
  ];
}

export const headlineHeader = ['', 'ours', 'baseline', 'ours/baseline'];

export const stepHeader = ['step', 'offered/s', 'achieved/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'backlog slope/s', 'cursor lag max s', 'CPU ms/change', 'unified xacts/change', 'other load (cores)', 'verdict'];

export function stepRow(step: StepResult): string[] {
  return [
    step.label,
    show(step.offered_per_s),
    show(step.achieved_per_s),
    show(step.latency.p50_ms),
    show(step.latency.p95_ms),
    show(step.latency.p99_ms),
    show(step.latency.max_ms),
    show(step.backlog.slope_per_s),
    show(step.cursor_lag_s.max),
    show(totalCpuMsPerChange(step)),
    show(step.unified_xacts_per_change),
    `${show(step.other_load_cores)}${step.unreliable ? ' UNRELIABLE' : ''}`,
    step.verdict,
  ];
}

export const costHeader = ['step', 'temporal', 'worker', 'connectors', 'baseline', 'postgres (pipeline)', 'postgres (generator)', 'bench process', 'pipeline total', 'net of idle'];

export function costRow(step: StepResult): string[] {
  const c = step.cpu_ms_per_change;
  return [step.label, show(c.temporal), show(c.worker), show(c.connectors), show(c.baseline), show(c.postgres), show(c.generator_postgres), show(c.bench), show(totalCpuMsPerChange(step)), show(totalCpuMsPerChange(step, true))];
}

export const floorHeader = ['step', 'offered/s', 'temporal ours/floor', 'worker ours/floor', 'connectors|sender ours/floor', 'postgres ours/floor', 'total ours/floor', 'ratio total', 'ratio temporal', 'ratio worker', 'p99 ms ours/floor', ''];

export function floorRows(summary: BenchSummary): string[][] {
  const pair = (a: number, b: number) => `${show(a)} / ${show(b)}`;
  return summary.floor_comparison.map((row) => [
    row.phase,
    show(row.offered_per_s),
    pair(row.ours.temporal, row.floor.temporal),
    pair(row.ours.worker, row.floor.worker),
    pair(row.ours.connectors, row.floor.connectors),
    pair(row.ours.postgres, row.floor.postgres),
    pair(row.ours.total, row.floor.total),
    show(row.ratio.total),
    show(row.ratio.temporal),
    show(row.ratio.worker),
    pair(row.p99_ms.ours, row.p99_ms.floor),
    row.unreliable ? 'UNRELIABLE' : '',
  ]);
}

/** The highest sustained rates, the age, overload and cold-start phases, as lines of text. */
export function phaseLines(summary: BenchSummary): string[] {
  const lines: string[] = [];
  if (summary.floor) {
    lines.push(`Highest sustained rate (flat backlog, p99 <= ${summary.options.maxP99Ms} ms): ours ${show(summary.max_sustained_per_s)}/s, floor ${show(summary.floor.max_sustained_per_s)}/s, ours/floor ${show(summary.sustained_ratio_to_floor)}`);
  }
  const { age, overload, cold } = summary;
  if (age) {
    lines.push(
      `Age at ${age.rate}/s: CPU ms per change ${show(age.cpu_ms_per_change.one_month)} with ${age.partitions.one_month} month partition, ` +
        `${show(age.cpu_ms_per_change.aged)} with ${age.partitions.aged} (${age.months_with_rows} holding ${age.rows_per_month_per_table} rows a table): ratio ${show(age.cpu_ms_per_change.ratio)}; ` +
        `by component ${Object.entries(age.component_ratio).map(([name, value]) => `${name} ${show(value)}`).join(', ')}`,
    );
  }
  if (overload) {
    lines.push(
      `Overload at ${overload.offered_per_s}/s for ${overload.seconds}s${overload.sustained_per_s === null ? '' : ` (2 x ${overload.sustained_per_s}/s)`}: applied/s per 10 s ${overload.applied_per_s_during_load.join(', ')} ` +
        `(lowest after the first window / sustained ${show(overload.min_applied_ratio_to_sustained)}); workflow task timeouts and failures ${show(overload.workflow_task_trouble_total)}` +
        `${Object.keys(overload.workflow_task_trouble).length > 0 ? ` ${JSON.stringify(overload.workflow_task_trouble)}` : ''}; lag ${overload.paged ? 'paged' : 'did not page'} (${overload.alerts.length} alerts); ` +
        `${overload.backlog_at_stop} behind at the stop, drained in ${overload.drain_s}s (${show(overload.drain_per_s)}/s)`,
    );
  }
  if (cold) {
    lines.push(
      `Cold start at ${cold.rate}/s, ${cold.rooms} rooms, runs holding ${cold.run_events.min}-… events (median ${cold.run_events.median}; target ${cold.fill_target_events}): ` +
        `unified view current ${cold.current_after_s === null ? 'NOT within the limit' : `${cold.current_after_s}s`} after the restart (worker polling after ${cold.worker_polling_after_s}s); ` +
        `${cold.rooms_replayed} rooms replayed, about ${cold.replayed_events} events: ${show(cold.replayed_events_per_s)} events/s`,
    );
  }
  if (lines.length > 0) lines.push('');
  return lines;
}
