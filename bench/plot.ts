import type { StepResult } from './results.js';

// A hand-written SVG: the latency distribution of the key steps, and latency over the whole run.

const width = 1100;
const panelHeight = 360;
const margin = { left: 70, right: 20, top: 40, bottom: 45 };
const colors = { ours: '#1f63b5', baseline: '#d9711c', floor: '#2e8b3d' } as const;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fixed = (value: number) => value.toFixed(1);

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly from: number;
  readonly to: number;
  readonly log: boolean;
}

function scale(axis: Axis, value: number): number {
  const f = (v: number) => (axis.log ? Math.log10(Math.max(v, axis.min)) : v);
  const ratio = (f(value) - f(axis.min)) / (f(axis.max) - f(axis.min) || 1);
  return axis.from + Math.min(1, Math.max(0, ratio)) * (axis.to - axis.from);
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(min)); decade <= max * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m >= min && decade * m <= max) ticks.push(decade * m);
  }
  return ticks;
}

function frame(top: number, title: string, xLabel: string, yLabel: string): string {
  const bottom = top + panelHeight - margin.bottom;
  return [
    `<text x="${margin.left}" y="${top + 22}" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${margin.left}" y="${top + margin.top}" width="${width - margin.left - margin.right}" height="${panelHeight - margin.top - margin.bottom}" fill="none" stroke="#999"/>`,
    `<text x="${(margin.left + width - margin.right) / 2}" y="${bottom + 36}" font-size="12" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text x="18" y="${(top + margin.top + bottom) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 ${(top + margin.top + bottom) / 2})">${escape(yLabel)}</text>`,
  ].join('\n');
}

function legend(x: number, y: number, entries: readonly { label: string; color: string; dash: boolean }[]): string {
  return entries
    .map(
      (entry, index) =>
        `<line x1="${x}" y1="${y + index * 18}" x2="${x + 28}" y2="${y + index * 18}" stroke="${entry.color}" stroke-width="2.5"${entry.dash ? ' stroke-dasharray="6 4"' : ''}/>` +
        `<text x="${x + 34}" y="${y + index * 18 + 4}" font-size="12">${escape(entry.label)}</text>`,
    )
    .join('\n');
}

/** Percentile (y) against latency (x, log): one curve per key step. */
function distributionPanel(top: number, curves: readonly { step: StepResult; dash: boolean }[]): string {
  const all = curves.flatMap(({ step }) => step.quantiles_ms.filter((value) => Number.isFinite(value) && value > 0));
  const x: Axis = { min: Math.max(0.5, Math.min(...all, 1)), max: Math.max(...all, 10), from: margin.left, to: width - margin.right, log: true };
  const y: Axis = { min: 0, max: 100, from: top + panelHeight - margin.bottom, to: top + margin.top, log: false };
  const parts = [frame(top, 'End-to-end latency distribution (source commit to unified row)', 'latency, ms (log scale)', 'share of changes at or below, %')];
  for (const tick of logTicks(x.min, x.max)) {
    const px = scale(x, tick);
    parts.push(`<line x1="${fixed(px)}" y1="${y.to}" x2="${fixed(px)}" y2="${y.from}" stroke="#eee"/><text x="${fixed(px)}" y="${y.from + 16}" font-size="11" text-anchor="middle">${tick}</text>`);
  }
  for (const tick of [0, 25, 50, 75, 90, 99]) {
    const py = scale(y, tick);
    parts.push(`<line x1="${x.from}" y1="${fixed(py)}" x2="${x.to}" y2="${fixed(py)}" stroke="#eee"/><text x="${x.from - 6}" y="${fixed(py + 4)}" font-size="11" text-anchor="end">${tick}</text>`);
  }
  for (const { step, dash } of curves) {
    const points = step.quantiles_ms
      .map((value, index) => (Number.isFinite(value) ? `${fixed(scale(x, value))},${fixed(scale(y, index / 2))}` : null))
      .filter((point): point is string => point !== null);
    parts.push(`<polyline fill="none" stroke="${colors[step.target]}" stroke-width="2"${dash ? ' stroke-dasharray="6 4"' : ''} points="${points.join(' ')}"/>`);
  }
  parts.push(legend(x.to - 330, top + margin.top + 200, curves.map(({ step, dash }) => ({ label: `${step.label} (p99 ${step.latency.p99_ms} ms)`, color: colors[step.target], dash }))));
  return parts.join('\n');
}

/** Per-second p50 and p99 of every step, on the run's clock, over a sample of single changes. */
function timePanel(top: number, steps: readonly StepResult[]): string {
  const origin = Math.min(...steps.map((step) => Date.parse(step.started_at)));
  const placed = steps.map((step) => ({ step, offset: (Date.parse(step.started_at) - origin) / 1000 }));
  const end = Math.max(...placed.map(({ step, offset }) => offset + (step.timeline.at(-1)?.t_s ?? 0) + 1));
  const values = steps.flatMap((step) => step.scatter.map(([, latency]) => latency)).filter((value) => value > 0);
  const x: Axis = { min: 0, max: Math.max(end, 1), from: margin.left, to: width - margin.right, log: false };
  const y: Axis = { min: Math.max(0.5, Math.min(...values, 1)), max: Math.max(...values, 10), from: top + panelHeight - margin.bottom, to: top + margin.top, log: true };
  const parts = [frame(top, 'Latency over the run (dots: sampled changes; lines: per-second p50 thin, p99 thick)', 'seconds since the first step', 'latency, ms (log scale)')];
  for (const tick of logTicks(y.min, y.max)) {
    const py = scale(y, tick);
    parts.push(`<line x1="${x.from}" y1="${fixed(py)}" x2="${x.to}" y2="${fixed(py)}" stroke="#eee"/><text x="${x.from - 6}" y="${fixed(py + 4)}" font-size="11" text-anchor="end">${tick}</text>`);
  }
  const every = Math.max(30, Math.ceil(end / 12 / 30) * 30);
  for (let tick = 0; tick <= end; tick += every) {
    parts.push(`<text x="${fixed(scale(x, tick))}" y="${y.from + 16}" font-size="11" text-anchor="middle">${tick}</text>`);
  }
  placed.forEach(({ step, offset }, index) => {
    const x0 = scale(x, offset);
    const x1 = scale(x, offset + (step.timeline.at(-1)?.t_s ?? 0));
    parts.push(`<rect x="${fixed(x0)}" y="${y.to}" width="${fixed(Math.max(1, x1 - x0))}" height="${y.from - y.to}" fill="${colors[step.target]}" fill-opacity="${index % 2 === 0 ? 0.05 : 0.1}"/>`);
    parts.push(`<text x="${fixed(x0 + 2)}" y="${y.to + 12 + (index % 3) * 11}" font-size="9" fill="${colors[step.target]}">${escape(`${step.phase} ${step.offered_per_s}/s${step.sustained ? '' : ' ✗'}`)}</text>`);
    const dots = step.scatter.map(([t, latency]) => `<circle cx="${fixed(scale(x, offset + t))}" cy="${fixed(scale(y, latency))}" r="1"/>`);
    parts.push(`<g fill="${colors[step.target]}" fill-opacity="0.25">${dots.join('')}</g>`);
    for (const [key, widthPx] of [['p50_ms', 1], ['p99_ms', 2]] as const) {
      const points = step.timeline.flatMap((point) => (point[key] === null ? [] : [`${fixed(scale(x, offset + point.t_s))},${fixed(scale(y, point[key] ?? 1))}`]));
      parts.push(`<polyline fill="none" stroke="${colors[step.target]}" stroke-width="${widthPx}" points="${points.join(' ')}"/>`);
    }
  });
  parts.push(legend(x.to - 130, y.from - 36, [{ label: 'ours', color: colors.ours, dash: false }, { label: 'naive baseline', color: colors.baseline, dash: false }]));
  return parts.join('\n');
}

export function latencySvg(steps: readonly StepResult[], keySteps: readonly { step: StepResult; dash: boolean }[], caption: readonly string[]): string {
  const height = panelHeight * 2 + 30 + 14 * caption.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    distributionPanel(0, keySteps),
    timePanel(panelHeight, steps),
    ...caption.map((line, index) => `<text x="${margin.left}" y="${panelHeight * 2 + 24 + index * 14}" font-size="11" fill="#555">${escape(line)}</text>`),
    '</svg>',
  ].join('\n');
}
