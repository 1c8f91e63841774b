import { describeMachineLine } from './machine.js';
import type { BenchSummary } from './summary.js';
import { markdownTable } from './table.js';
import { costHeader, costRow, floorHeader, floorRows, headlineHeader, headlineRows, phaseLines, stepHeader, stepRow } from './tables.js';

export function summaryMarkdown(summary: BenchSummary, svgName: string): string {
  const o = summary.options;
  const targetRows = summary.targets.map((target) => [target.target, target.measured, target.met === null ? 'not checked' : target.met ? 'met' : 'MISSED']);
  return [
    `# room-sync benchmark, ${summary.started_at}`,
    '',
    `Machine: ${describeMachineLine(summary.machine)}; load average at start ${summary.machine.load_average_at_start.join(' ')}.`,
    '',
    `Workload: ${o.rooms} rooms in ${o.hotels} hotels, both sources; ${Math.round(o.legacyShare * 100)}% of changes to legacy; ` +
      `${Math.round(o.conflictShare * 100)}% make the sources disagree; ${Math.round(o.skew * 100)}% go to the ${Math.round(o.hotRoomShare * 100)}% hot rooms; ` +
      `fixed rate ${o.rate}/s for ${o.durationS}s; ramp ${o.ramp.join(', ')}/s, ${o.stepS}s steps (steady window after ${o.warmupS}s); ` +
      `hold ${o.holdS}s; seed ${o.seed}. Our routing: ${summary.routing}. Wall time ${summary.wall_s}s.`,
    '',
    '## Targets',
    '',
    markdownTable(['target', 'measured', ''], targetRows),
    '',
    ...(summary.unreliable_steps.length > 0
      ? [`**Unreliable steps** (the rest of the machine used more than ${o.maxOtherLoad} cores): ${summary.unreliable_steps.join('; ')}. No reference may be saved from this run.`, '']
      : [`Every step ran with the rest of the machine under ${o.maxOtherLoad} cores.`, '']),
    '## Ours against the design\'s floor',
    '',
    'The floor (bench/floor): signal-with-start per change to one workflow per room, a workflow loop, one local activity doing one upsert and one insert (one statement) in Postgres; ' +
      'its own Temporal dev server started with the same flags, a worker with default options, one sender per source on its own slot (its CPU in the connectors column). Same sources, generator and step seeds.',
    '',
    ...(summary.floor_comparison.length > 0 ? [markdownTable(floorHeader, floorRows(summary)), ''] : ['Not run.', '']),
    ...phaseLines(summary).map((line) => (line === '' ? '' : `- ${line}`)),
    '',
    '## Ours against the naive baseline',
    '',
    markdownTable(headlineHeader, headlineRows(summary)),
    '',
    `![latency](${svgName})`,
    '',
    ...(summary.workflows
      ? [
          '## Memory with many rooms',
          '',
          `${summary.workflows.opened} more rooms were inserted into legacy (50 per transaction, at most 200 not yet reflected); under per-room routing each opens its own workflow. All ${summary.workflows.touched} rooms were reflected after ${summary.workflows.opening_s}s ` +
            `(${summary.workflows.opened_per_s} rooms per second). With ${summary.workflows.open_room_workflows ?? '?'} workflows open (routing ${summary.routing}), the worker's RSS was ${summary.workflows.worker_rss_mib} MiB ` +
            `(peak over the whole run ${summary.workflows.worker_hwm_mib} MiB) and the Temporal server's ${summary.workflows.temporal_rss_mib} MiB. CPU per added room (ms): ${JSON.stringify(summary.workflows.cpu_ms_per_opened_workflow)}.`,
        ]
      : []),
    '',
    `Idle CPU (cores) before the load, ours: ${JSON.stringify(summary.idle_cpu_cores.ours)}; baseline: ${JSON.stringify(summary.idle_cpu_cores.baseline)}.`,
    '',
    '## How it is measured',
    '',
    '- Our design runs as `npm start` runs it: the project\'s Temporal dev server (own port, own SQLite file under `.data/bench`), `room-sync worker` and one `room-sync connector` per source, each a child process, on the bench\'s own databases `rs_bench_*` (recreated each run).',
    '- The naive baseline (bench/baseline-consumer.ts): one process per source reading its own pgoutput slot and upserting each row change into `baseline_rooms`, last write wins, no Temporal, no audit; up to ' +
      `${o.baselineConcurrency} upserts in flight per source, each room's in log order. It runs after ours has been stopped, on the same sources, with the same seeded generator.`,
    '- Load: one autocommit UPDATE per change on a source room row, open loop at the offered rate; each change records its transaction start (`now()`, µs).',
    '- Latency: a bench-only trigger on `unified_rooms` (and `baseline_rooms`) records `clock_timestamp()` whenever a source\'s commit time in the row moves; a change is reflected by the first such row of its room and source whose commit time is at or after the change\'s transaction start. One clock (the database\'s); the start precedes the commit by the UPDATE itself (< 1 ms).',
    '- Sustained: over the steady window the backlog (changes committed and not yet reflected, sampled each second) grows by less than 2% of the offered rate per second, our connectors\' cursor lag (`now() - cdc_cursors.last_acked_commit_time`) does not climb, every change is reflected within the drain time, and the generator achieved 95% of the offered rate.',
    '- Cost: CPU from `/proc/<pid>/stat` of every process of a component (Postgres: the backends and walsenders serving the bench databases); peak RSS is `VmHWM`; transactions are `pg_stat_database.xact_commit` deltas on the unified database, the bench\'s own reads left out. "other load" is CPU the rest of the machine used during the step.',
    '',
    '## Every step',
    '',
    'Latency over each step\'s steady window; a step is sustained when the backlog of unapplied changes (and, for ours, the connectors\' cursor lag) does not grow over that window and every change is reflected after it.',
    '',
    markdownTable(stepHeader, summary.steps.map(stepRow)),
    '',
    '## CPU ms per change, by component',
    '',
    'Each step\'s CPU seconds (load, drain and settle) over its changes. "postgres (pipeline)" is every backend and walsender serving the design on the bench databases, the generator\'s own sessions apart. "pipeline total" adds the design\'s processes and its Postgres; "net of idle" takes out what they burn with no load at all (measured before the load).',
    '',
    markdownTable(costHeader, summary.steps.map(costRow)),
    '',
  ].join('\n');
}
