import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { projectRoot } from '../src/setup/source-schemas.js';
import { resultsRoot } from './config.js';
import { describeMachineLine } from './machine.js';
import { summaryMarkdown } from './markdown.js';
import { latencySvg } from './plot.js';
import { say } from './progress.js';
import type { StepResult } from './results.js';
import { buildSummary, type BenchSummary, type ReportInput } from './summary.js';
import { formatTable } from './table.js';
import { costHeader, costRow, floorHeader, floorRows, headlineHeader, headlineRows, phaseLines, stepHeader, stepRow } from './tables.js';

export function buildReport(input: ReportInput): BenchSummary {
  return buildSummary(input);
}

export function printTable(summary: BenchSummary): void {
  const out = [
    '',
    formatTable(headlineHeader, headlineRows(summary)),
    '',
    formatTable(stepHeader, summary.steps.map(stepRow)),
    '',
    'CPU ms per change:',
    formatTable(costHeader, summary.steps.map(costRow)),
    '',
    ...(summary.floor_comparison.length > 0 ? ['Ours against the floor, CPU ms per change (same phase and offered rate):', formatTable(floorHeader, floorRows(summary)), ''] : []),
    ...phaseLines(summary),
    ...(summary.unreliable_steps.length > 0 ? [`UNRELIABLE steps (other load > ${summary.options.maxOtherLoad} cores): ${summary.unreliable_steps.join('; ')}`, ''] : []),
    formatTable(['target', 'measured', ''], summary.targets.map((target) => [target.target, target.measured, target.met === null ? 'not checked' : target.met ? 'met' : 'MISSED'])),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

export function keySteps(summary: BenchSummary): { step: StepResult; dash: boolean }[] {
  const find = (target: string, phase: string) => summary.steps.find((step) => step.target === target && step.phase === phase);
  const atMax = (target: 'ours' | 'baseline', rate: number | null | undefined) =>
    [...summary.steps].reverse().find((step) => step.target === target && step.offered_per_s === rate && step.sustained && step.phase !== 'fixed');
  const chosen = [
    { step: find('ours', 'fixed'), dash: false },
    { step: atMax('ours', summary.max_sustained_per_s), dash: true },
    { step: find('baseline', 'fixed'), dash: false },
    { step: atMax('baseline', summary.baseline?.max_sustained_per_s), dash: true },
  ];
  return chosen.flatMap(({ step, dash }) => (step ? [{ step, dash }] : []));
}

/** Writes the run's folder, latest.{json,md,svg} and, when asked, the reference run; returns the paths. */
export async function writeReport(summary: BenchSummary, saveReference: boolean): Promise<string[]> {
  const runId = summary.started_at.replace(/[:.]/g, '-');
  const runDir = join(resultsRoot, runId);
  await mkdir(runDir, { recursive: true });
  const svg = latencySvg(summary.steps, keySteps(summary), [`room-sync bench ${summary.started_at}`, describeMachineLine(summary.machine)]);
  // The sampled points are in the plot; the JSON keeps per-second timelines and quantiles.
  const lean = { ...summary, steps: summary.steps.map((step) => ({ ...step, scatter: [] })) };
  const files: [string, string][] = [
    [join(runDir, 'results.json'), `${JSON.stringify(lean, null, 2)}\n`],
    [join(runDir, 'summary.md'), summaryMarkdown(summary, 'latency.svg')],
    [join(runDir, 'latency.svg'), svg],
    [join(resultsRoot, 'latest.json'), `${JSON.stringify(lean, null, 2)}\n`],
    [join(resultsRoot, 'latest.md'), summaryMarkdown(summary, 'latest.svg')],
    [join(resultsRoot, 'latest.svg'), svg],
  ];
  for (const [path, content] of files) await writeFile(path, content);
  const written = files.map(([path]) => relative(projectRoot, path));
  if (saveReference && summary.unreliable_steps.length > 0) {
    say(
      `NOT saving bench/results/reference/: ${summary.unreliable_steps.length} step(s) ran while the rest of the machine used more than ` +
        `${summary.options.maxOtherLoad} cores: ${summary.unreliable_steps.join('; ')}. Run again on a quiet machine.`,
    );
  } else if (saveReference) {
    const reference = join(resultsRoot, 'reference');
    await mkdir(reference, { recursive: true });
    for (const name of ['results.json', 'summary.md', 'latency.svg']) await copyFile(join(runDir, name), join(reference, name));
    const other = summary.steps.map((step) => step.other_load_cores);
    await writeFile(
      join(reference, 'README.md'),
      `# Reference run\n\n\`${benchCommand()}\` of ${summary.started_at} on commit ${commitAtStart}, on ${describeMachineLine(summary.machine)}; ` +
        `load average at start ${summary.machine.load_average_at_start.join(' ')}; processes outside the bench used ` +
        `${Math.min(...other)}-${Math.max(...other)} cores during its steps. Wall time ${summary.wall_s} s.\n\nSee [summary.md](summary.md) and [latency.svg](latency.svg); ` +
        `[results.json](results.json) holds every step.\n`,
    );
    written.push(relative(projectRoot, reference));
    say('reference run saved to bench/results/reference/');
  }
  return written;
}

/** The command as run, so a reference names what produced it. */
function benchCommand(): string {
  const args = process.argv.slice(2);
  return args.length === 0 ? 'npm run bench' : `npm run bench -- ${args.join(' ')}`;
}

/** Read when the bench starts: the code it ran, not the tree at the end (the reference's own files, docs edited meanwhile). */
const commitAtStart = currentCommit();

function currentCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: projectRoot, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}
