// `npm run faults`: each fault on the real services under load from both sources, then
// convergence, and one row per scenario: nothing lost, nothing duplicated, how long until current.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resultsRoot } from '../config.js';
import { say } from '../progress.js';
import { formatTable, show } from '../table.js';
import { clusterScenarios, rowPassed, runScenario, runSoak, scenarios, type ScenarioRow, type ScenarioSettings } from './scenarios.js';

const usage = `usage: node --import tsx bench/faults/run.ts [--temporal dev|cluster] [--scenarios 1,2,5] [--rate N] [--rooms N] [--soak-minutes N] [--keep-databases] [--prefix NAME] [--worker-node-option F ...]
Scenarios (--temporal dev, the default): ${scenarios.map((scenario) => `${scenario.id} ${scenario.name}`).join('; ')}; 10 soak.
Scenarios (--temporal cluster: room-sync cluster, two room workers, a monitor worker, a connector and a standby per source):
  ${clusterScenarios.map((scenario) => `${scenario.id} ${scenario.name}`).join('; ')}.
Scenarios 4 and 15 restart the shared PostgreSQL server (every session on it drops).
--prefix names this run's databases (rs_faults_<prefix>_s<N>_*) and data folders (default script), so two runs on one server keep apart.`;

/** The rate the soak figures in docs/faults.md were taken at; well under the sustained rate in docs/capacity.md. */
const defaultRate = 15;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive number, not ${JSON.stringify(value)}`);
  return parsed;
}

function parse(argv: string[]): { ids: number[]; settings: ScenarioSettings } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenarios: { type: 'string' },
      rate: { type: 'string' },
      rooms: { type: 'string' },
      'soak-minutes': { type: 'string' },
      'keep-databases': { type: 'boolean', default: false },
      prefix: { type: 'string', default: 'script' },
      temporal: { type: 'string', default: 'dev' },
      'worker-node-option': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return null;
  }
  const temporal = values.temporal;
  if (temporal !== 'dev' && temporal !== 'cluster') throw new Error(`--temporal takes dev or cluster, not ${JSON.stringify(temporal)}`);
  const known = temporal === 'cluster' ? clusterScenarios.map((scenario) => scenario.id) : [...scenarios.map((scenario) => scenario.id), 10];
  const ids = values.scenarios === undefined ? known : values.scenarios.split(',').map((part) => Number(part.trim()));
  for (const id of ids) if (!known.includes(id)) throw new Error(`--scenarios: no scenario ${id} (known: ${known.join(', ')})`);
  const rooms = positive('rooms', values.rooms, 45);
  // Part of database and folder names: lower case, a letter first.
  if (!/^[a-z][a-z0-9_]{0,15}$/.test(values.prefix)) throw new Error(`--prefix takes 1-16 lower-case letters, digits or _ (a letter first), not ${JSON.stringify(values.prefix)}`);
  return {
    ids,
    settings: {
      prefix: values.prefix,
      rate: positive('rate', values.rate, defaultRate),
      hotels: Math.max(1, Math.round(rooms / 5)),
      rooms,
      seed: 20_261_206,
      warmupS: 10,
      afterS: 20,
      convergeTimeoutS: 300,
      sourceOutageS: 120,
      readOnlyS: 60,
      soakMinutes: positive('soak-minutes', values['soak-minutes'], 30),
      keepDatabases: values['keep-databases'],
      workerNodeOptions: values['worker-node-option'],
      temporal,
      log: say,
    },
  };
}

export const tableHeader = ['scenario', 'committed', 'applied', 'audit exp', 'audit found', 'lost', 'dup', 'current again', 'pages', 'resolved', 'result'];

export function tableRow(row: ScenarioRow): string[] {
  return [
    `${row.id} ${row.scenario}`,
    String(row.committed),
    String(row.applied),
    String(row.auditExpected),
    String(row.auditFound),
    String(row.lost),
    String(row.duplicated),
    row.currentAgainS === null ? '-' : `${row.currentAgainS.toFixed(1)} s`,
    String(row.pagesSent),
    String(row.pagesResolved),
    rowPassed(row) ? 'ok' : 'FAIL',
  ];
}

/** The notes under the table: what each row measured from, and why a row failed. */
function rowNotes(row: ScenarioRow): string[] {
  const lines = [...row.notes];
  if (row.uncertain > 0) lines.push(`${row.uncertain} audit rows of writes whose statement failed but committed (crash mid-commit): counted in found`);
  if (row.unexpected > 0) lines.push(`${row.unexpected} audit rows match no write`);
  if (!row.converged) lines.push('did not converge');
  if (row.rssSlopeMiBPerHour) lines.push(`RSS slope after the first 5 min: worker ${show(row.rssSlopeMiBPerHour.worker)} MiB/h, connectors ${show(row.rssSlopeMiBPerHour.connectors)} MiB/h`);
  if (row.rssMiBByMinute) lines.push(`worker RSS MiB by minute: ${row.rssMiBByMinute.worker.join(' ')}`);
  lines.push(`${row.failedWrites} writes refused during the fault; ${row.seconds.toFixed(0)} s in all`);
  lines.push(...row.failures.map((failure) => `FAIL: ${failure}`));
  return lines.map((line) => `  ${row.id}: ${line}`);
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`faults: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 2;
  }
  if (parsed === null) return 0;
  const { ids, settings } = parsed;
  const startedAt = new Date();
  const rows: ScenarioRow[] = [];
  for (const id of ids) {
    const scenario = [...scenarios, ...clusterScenarios].find((candidate) => candidate.id === id);
    const row = scenario ? await runScenario(scenario, settings) : await runSoak(settings);
    rows.push(row);
    say(`scenario ${id}: ${rowPassed(row) ? 'ok' : 'FAIL'}`);
  }
  const table = formatTable(tableHeader, rows.map(tableRow));
  process.stdout.write(`\n${table}\n${rows.flatMap(rowNotes).join('\n')}\n`);
  await mkdir(resultsRoot, { recursive: true });
  const file = join(resultsRoot, `faults-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify({ startedAt, finishedAt: new Date(), settings: { ...settings, log: undefined }, rows }, null, 2)}\n`);
  say(`results: ${file}`);
  return rows.every(rowPassed) ? 0 : 1;
}

// Exiting runs the rigs' exit hook, which kills every process they started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`faults: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
