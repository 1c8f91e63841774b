import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
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
