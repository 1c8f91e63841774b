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
    show(step.other_load_cores),
    step.verdict,
  ];
}

export const costHeader = ['step', 'temporal', 'worker', 'connectors', 'baseline', 'postgres (pipeline)', 'postgres (generator)', 'bench process', 'pipeline total', 'net of idle'];

export function costRow(step: StepResult): string[] {
  const c = step.cpu_ms_per_change;
  return [step.label, show(c.temporal), show(c.worker), show(c.connectors), show(c.baseline), show(c.postgres), show(c.generator_postgres), show(c.bench), show(totalCpuMsPerChange(step)), show(totalCpuMsPerChange(step, true))];
}
