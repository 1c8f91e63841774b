// `npm test`: the checks, then every suite, against one Temporal dev server for the whole run.
// Suites that share nothing run side by side (each has its own databases and its own namespace
// on the shared server); a suite whose header says `@serial` (it restarts PostgreSQL, say) runs
// after them, alone. The wall time of each phase is printed, so the next slow part shows.
//
//   npm test                       everything
//   npm test -- test/integration/sync.test.ts ...   only these files (no type check or lint)
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { Command } from 'commander';
import { freePort } from '../bench/ports.js';
import { projectRoot } from '../src/setup/source-schemas.js';
import { buildCli, buildSuites, builtCliVariable } from './room-sync-entry.js';
import { startTemporalDevServer, temporalCliPath, type TemporalServerHandle } from '../src/setup/temporal.js';
import { namespaceForSuite, sharedTemporalAddressVariable, sharedTemporalUiVariable } from '../test/support/shared-temporal.js';

interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly ok: boolean;
}

interface SuiteTime {
  readonly file: string;
  readonly seconds: number;
  readonly ok: boolean;
  readonly counts: TestCounts;
}

interface TestCounts {
  readonly tests: number;
  readonly pass: number;
  readonly fail: number;
  readonly skipped: number;
}

/** node:test's closing summary of one suite (`# tests 5`, `# pass 5`, ...). */
function testCounts(output: string): TestCounts {
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), skipped: count('skipped') };
}

const serialMarker = /^\/\/ @serial: (.+)$/m;
const logDir = join(projectRoot, 'artifacts', 'test-logs');

const program = new Command('npm test')
  .description('type check, lint, set-up, then the unit and integration suites on the real Postgres and Temporal')
  .argument('[files...]', 'run only these test files (skips type check, lint and the rules check)')
  .option('--concurrency <n>', 'suites run side by side', (value) => Number.parseInt(value, 10), Number(process.env['TEST_CONCURRENCY'] ?? Math.max(2, availableParallelism() * 2)))
  .showHelpAfterError();

async function main(): Promise<number> {
  program.parse();
  const files = program.args;
  const { concurrency } = program.opts<{ concurrency: number }>();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    program.error(`--concurrency must be a positive integer (got ${String(concurrency)})`, { exitCode: 2 });
  }
  const phases: Phase[] = [];
  const suiteTimes: SuiteTime[] = [];
  const started = Date.now();
  const run = async (name: string, body: () => Promise<boolean>): Promise<boolean> => {
    const phaseStarted = Date.now();
    process.stderr.write(`\n== ${name}\n`);
    const ok = await body();
    phases.push({ name, seconds: (Date.now() - phaseStarted) / 1000, ok });
    process.stderr.write(`== ${name}: ${ok ? 'ok' : 'FAILED'} in ${((Date.now() - phaseStarted) / 1000).toFixed(1)} s\n`);
    return ok;
  };

  let ok = true;
  if (files.length === 0) {
    // Type check and lint are independent single-threaded jobs: side by side on two cores.
    ok = await run('type check + lint', async () => {
      const [typecheck, lint] = await Promise.all([command('npx', ['tsc', '-p', '.']), command('npx', ['eslint', '.'])]);
      return typecheck && lint;
    });
  }
  ok = (await run('set-up', () => command(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'setup', '--tests']))) && ok;
  if (files.length === 0) ok = (await run('Prometheus rules', () => command('npm', ['run', '--silent', 'test:rules']))) && ok;

  const selected = files.length > 0 ? files.map((file) => join(projectRoot, file)) : [...(await testFiles('test/unit')), ...(await testFiles('test/integration'))];
  const unit = selected.filter((file) => relative(projectRoot, file).startsWith('test/unit/'));
  const integration = selected.filter((file) => !unit.includes(file));
  if (unit.length > 0) ok = (await run(`unit (${unit.length} files)`, () => nodeTest(unit, concurrency, {}))) && ok;

  if (integration.length > 0) {
    const serial: string[] = [];
    const parallel: string[] = [];
    for (const file of integration) {
      const reason = serialMarker.exec(await readFile(file, 'utf8'))?.[1];
      if (reason) {
        serial.push(file);
        process.stderr.write(`serial: ${relative(projectRoot, file)} (${reason})\n`);
      } else parallel.push(file);
    }
    const server = await startSharedServer(integration);
    const cliDir = await mkdtemp(join(projectRoot, '.data', 'test-cli-'));
    try {
      const env = {
        [sharedTemporalAddressVariable]: server.address,
        [sharedTemporalUiVariable]: server.uiUrl,
        [builtCliVariable]: await buildCli(cliDir),
      };
      const weights = await suiteWeights();
      const built = await buildSuites(integration, join(cliDir, 'suites'));
      if (parallel.length > 0) {
        ok = (await run(`integration, ${concurrency} side by side (${parallel.length} files)`, () => suitePool(parallel, concurrency, env, weights, suiteTimes, built))) && ok;
      }
      if (serial.length > 0) ok = (await run(`integration, serial (${serial.length} files)`, () => suitePool(serial, 1, env, weights, suiteTimes, built))) && ok;
    } finally {
      await server.stop();
      await rm(cliDir, { recursive: true, force: true });
    }
  }

  if (suiteTimes.length > 0) {
    const total = (key: keyof TestCounts) => suiteTimes.reduce((sum, suite) => sum + suite.counts[key], 0);
    process.stderr.write(`\nintegration: ${suiteTimes.length} suites, ${total('tests')} tests, ${total('pass')} passed, ${total('fail')} failed, ${total('skipped')} skipped\n`);
    process.stderr.write('\nslowest integration suites (wall seconds; order of the next run: test/suite-weights.json)\n');
    for (const { file, seconds, ok: passed } of [...suiteTimes].sort((a, b) => b.seconds - a.seconds).slice(0, 8)) {
      process.stderr.write(`  ${relative(projectRoot, file).padEnd(48)} ${seconds.toFixed(1).padStart(7)}${passed ? '' : '  FAILED'}\n`);
    }
  }
  process.stderr.write('\nphase                                              seconds\n');
  for (const phase of phases) process.stderr.write(`${phase.name.padEnd(50)} ${phase.seconds.toFixed(1).padStart(7)}${phase.ok ? '' : '  FAILED'}\n`);
  process.stderr.write(`${'total'.padEnd(50)} ${((Date.now() - started) / 1000).toFixed(1).padStart(7)}\n`);
  return ok ? 0 : 1;
}

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(projectRoot, dir));
  return entries.filter((name) => name.endsWith('.test.ts')).sort().map((name) => join(projectRoot, dir, name));
}

/** Each suite's usual wall time in seconds: the longest start first, so a long suite never starts last and runs alone at the end. */
async function suiteWeights(): Promise<Map<string, number>> {
  const parsed = JSON.parse(await readFile(join(projectRoot, 'test', 'suite-weights.json'), 'utf8')) as Record<string, unknown>;
  return new Map(Object.entries(parsed).flatMap(([file, seconds]) => (typeof seconds === 'number' ? [[file, seconds] as const] : [])));
}

/**
 * The integration suites, `concurrency` at a time, longest first (a suite not in the weights
 * counts as the longest). One process per suite, its output kept in artifacts/test-logs and
 * printed whole when it fails, so side-by-side suites never interleave their lines.
 */
async function suitePool(
  files: readonly string[],
  concurrency: number,
  env: Record<string, string>,
  weights: ReadonlyMap<string, number>,
  times: SuiteTime[],
  built: ReadonlyMap<string, string>,
): Promise<boolean> {
  await mkdir(logDir, { recursive: true });
  const weightOf = (file: string) => weights.get(relative(projectRoot, file)) ?? Number.POSITIVE_INFINITY;
  const queue = [...files].sort((a, b) => weightOf(b) - weightOf(a));
  let allPassed = true;
  const runNext = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const started = Date.now();
      // The suite's module itself, not `node --test file`: node:test runs a file's tests when it is
      // the entry point and exits non-zero when one fails, without a runner process around it.
      const module = built.get(file);
      const args = module === undefined ? ['--import', 'tsx', file] : ['--enable-source-maps', module];
      const { passed, output } = await captured(process.execPath, args, env);
      const seconds = (Date.now() - started) / 1000;
      times.push({ file, seconds, ok: passed, counts: testCounts(output) });
      const name = relative(projectRoot, file);
      await writeFile(join(logDir, `${basename(file)}.log`), output);
      process.stderr.write(`${passed ? 'ok    ' : 'FAILED'} ${name} (${seconds.toFixed(1)} s)\n`);
      if (!passed) {
        allPassed = false;
        process.stderr.write(`---- output of ${name} ----\n${output}\n---- end of ${name} ----\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, runNext));
  return allPassed;
}

/**
 * A suite that has not ended after this long is killed and fails, its output so far printed: node:test
 * has no timeout for hooks, and a suite that hung once in `after` (2026-12-07, lag-alerting, cause
 * not found) would otherwise hold CI until its 90-minute limit.
 */
const suiteTimeoutMs = Number(process.env['SUITE_TIMEOUT_SECONDS'] ?? 600) * 1000;

function captured(executable: string, args: readonly string[], env: Record<string, string>): Promise<{ passed: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(executable, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, suiteTimeoutMs);
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ passed: false, output: `could not run ${executable}: ${error.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8');
      resolve(
        timedOut
          ? { passed: false, output: `${output}\nnpm test: killed after ${suiteTimeoutMs / 1000} s (SUITE_TIMEOUT_SECONDS)\n` }
          : { passed: code === 0, output },
      );
    });
  });
}

function nodeTest(files: readonly string[], concurrency: number, env: Record<string, string>): Promise<boolean> {
  return command(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], env);
}

function command(executable: string, args: readonly string[], env: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(executable, args, { cwd: projectRoot, stdio: 'inherit', env: { ...process.env, ...env } });
    child.once('error', (error) => {
      process.stderr.write(`could not run ${executable}: ${error.message}\n`);
      resolve(false);
    });
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** One dev server for the run, in a data folder of its own, with a namespace per suite. */
async function startSharedServer(files: readonly string[]): Promise<{ address: string; uiUrl: string; stop(): Promise<void> }> {
  await mkdir(join(projectRoot, '.data'), { recursive: true });
  const dataDir = await mkdtemp(join(projectRoot, '.data', 'test-temporal-'));
  const address = `127.0.0.1:${await freePort()}`;
  const uiPort = await freePort();
  let server: TemporalServerHandle;
  try {
    server = await startTemporalDevServer({
      cliPath: temporalCliPath(projectRoot),
      dataDir,
      address,
      uiPort,
      namespace: 'default',
      extraNamespaces: files.map(namespaceForSuite),
      log: (message) => process.stderr.write(`${message}\n`),
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    address,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`npm test: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
