import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';

const require = createRequire(import.meta.url);

/** What webpack needs to bundle the workflow code: plain data, so a child process can be handed it. */
export interface WorkflowBundleSpec {
  readonly workflowsPath: string;
  readonly preloadModules: readonly string[];
  /** webpack's `resolve.extensionAlias`: our sources import siblings as `./x.js` (NodeNext), webpack must find the `.ts` behind them. */
  readonly extensionAlias: Readonly<Record<string, readonly string[]>>;
}

export interface BundleLog {
  warn(message: string, meta?: Record<string, unknown>): void;
}

// Plain CommonJS for `node -e`: it needs neither tsx nor our sources, only the SDK's bundler.
const childScript = `
const [temporalWorker, specJson] = process.argv.slice(1);
const spec = JSON.parse(specJson);
const { bundleWorkflowCode } = require(temporalWorker);
const forward = (level) => (message, meta) => process.stderr.write(JSON.stringify({ level, message, meta }) + '\\n');
const logger = { trace() {}, debug() {}, info() {}, log() {}, warn: forward('warn'), error: forward('error') };
bundleWorkflowCode({
  workflowsPath: spec.workflowsPath,
  preloadModules: spec.preloadModules,
  webpackConfigHook: (config) => {
    config.resolve = { ...config.resolve, extensionAlias: spec.extensionAlias };
    return config;
  },
  logger,
}).then(
  (bundle) => process.stdout.write(JSON.stringify(bundle)),
  (error) => {
    process.stderr.write(JSON.stringify({ level: 'fatal', message: String((error && error.stack) || error) }) + '\\n');
    process.exitCode = 1;
  },
);
`;

/**
 * Bundles the workflow code with webpack in a child process. Bundling in the worker itself
 * left 90 MiB (one bundle) to 150 MiB (two) in its resident set for good; in a child, webpack's
 * working memory goes when it exits and the worker keeps only the bundle (about 2 MB).
 */
export function bundleWorkflowsInChildProcess(spec: WorkflowBundleSpec, log: BundleLog): Promise<WorkflowBundleWithSourceMap> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', childScript, require.resolve('@temporalio/worker'), JSON.stringify(spec)],
      { maxBuffer: 1024 * 1024 * 1024, env: process.env },
      (error, stdout, stderr) => {
        const lines = stderr.split('\n').filter((line) => line.trim() !== '');
        let fatal: string | null = null;
        for (const line of lines) {
          const entry = parseLine(line);
          if (entry.level === 'fatal') fatal = entry.message;
          else log.warn(entry.message, entry.meta);
        }
        if (error || fatal !== null) {
          reject(new Error(`bundling the workflow code failed: ${fatal ?? error?.message ?? 'unknown error'}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as WorkflowBundleWithSourceMap);
        } catch (parseError) {
          reject(new Error(`bundling the workflow code: unreadable output (${String(parseError)})`));
        }
      },
    );
  });
}

function parseLine(line: string): { level: string; message: string; meta?: Record<string, unknown> } {
  try {
    const parsed = JSON.parse(line) as { level?: unknown; message?: unknown; meta?: unknown };
    const meta = typeof parsed.meta === 'object' && parsed.meta !== null ? (parsed.meta as Record<string, unknown>) : undefined;
    return { level: typeof parsed.level === 'string' ? parsed.level : 'warn', message: String(parsed.message), ...(meta ? { meta } : {}) };
  } catch {
    return { level: 'warn', message: line };
  }
}

export interface BundleCache {
  /** Where bundles are kept, one file per content hash; null: bundle every time. */
  readonly dir: string | null;
  /** Every file whose content can change the bundle: the source tree the workflows import from, and the lockfile (SDK and webpack versions). */
  readonly sourceRoot: string;
  readonly lockfile: string;
}

/**
 * The workflow bundle, from the cache when one was built from the same sources: webpack costs
 * 4-5 s of CPU per worker process, paid again by every worker start, restart and test suite.
 * The key hashes every source file under `sourceRoot` and the lockfile, so any edit rebuilds.
 */
export async function cachedWorkflowBundle(spec: WorkflowBundleSpec, cache: BundleCache, log: BundleLog): Promise<WorkflowBundleWithSourceMap> {
  if (cache.dir === null) return bundleWorkflowsInChildProcess(spec, log);
  const key = await workflowBundleKey(spec, cache);
  const path = join(cache.dir, `workflows-${key}.json`);
  try {
    const cached = JSON.parse(await readFile(path, 'utf8')) as Partial<WorkflowBundleWithSourceMap>;
    if (typeof cached.code === 'string' && typeof cached.sourceMap === 'string') return { code: cached.code, sourceMap: cached.sourceMap };
  } catch {
    // Not built yet (or unreadable): build it below.
  }
  const bundle = await bundleWorkflowsInChildProcess(spec, log);
  try {
    await mkdir(cache.dir, { recursive: true });
    // Written whole, then renamed: a process starting beside this one reads the old state or the new file, never half of it.
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, JSON.stringify(bundle));
    await rename(partial, path);
    await pruneWorkflowBundles(cache.dir, keptBundles);
  } catch (error) {
    log.warn('could not keep the workflow bundle (it is rebuilt on the next start)', { dir: cache.dir, error: String(error) });
  }
  return bundle;
}

/** Bundles kept besides the newest: enough for a checkout switching between a few branches. */
const keptBundles = 4;

/** Keeps the `keep` newest bundles in `dir`. */
export async function pruneWorkflowBundles(dir: string, keep: number): Promise<void> {
  const bundles = await Promise.all(
    (await readdir(dir)).filter((name) => /^workflows-[0-9a-f]+\.json$/.test(name)).map(async (name) => ({ name, at: (await stat(join(dir, name))).mtimeMs })),
  );
  for (const { name } of bundles.sort((a, b) => b.at - a.at).slice(keep)) await rm(join(dir, name), { force: true });
}

/** The cache key: the spec, every source file under `sourceRoot` (path and content) and the lockfile. */
export async function workflowBundleKey(spec: WorkflowBundleSpec, cache: Pick<BundleCache, 'sourceRoot' | 'lockfile'>): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(spec));
  const files = (await sourceFiles(cache.sourceRoot)).sort();
  for (const file of files) hash.update(relative(cache.sourceRoot, file)).update('\0').update(await readFile(file)).update('\0');
  hash.update(await readFile(cache.lockfile).catch(() => Buffer.from('no lockfile')));
  return hash.digest('hex').slice(0, 32);
}

async function sourceFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sourceFiles(path)));
    else if (/\.(ts|js|mjs|cjs|json)$/.test(entry.name)) found.push(path);
  }
  return found;
}
