// `go install` of a Go tool into the project's git-ignored tools folder, with progress
// printed while it builds (a first build takes minutes on a small machine).
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter } from 'node:path';

export type Log = (msg: string) => void;

const GO_BIN_DIR = '/usr/local/go/bin';
const PROGRESS_EVERY_MS = 15_000;

/** The environment go runs with: the local Go toolchain on PATH, binaries into `gobin`. */
export function goEnv(gobin?: string): NodeJS.ProcessEnv {
  return { ...process.env, ...(gobin === undefined ? {} : { GOBIN: gobin }), PATH: `${process.env['PATH'] ?? ''}${delimiter}${GO_BIN_DIR}` };
}

/** Runs `go install <packageAtVersion>` with GOBIN=`gobin`; the output's tail is kept for the error message. */
export async function goInstall(gobin: string, packageAtVersion: string, label: string, log: Log): Promise<{ ok: boolean; output: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('go', ['install', packageAtVersion], { env: goEnv(gobin), stdio: ['ignore', 'pipe', 'pipe'] });
    // Keep only the tail: a failed build's useful part is at the end.
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const ticker = setInterval(() => {
      const secs = Math.round((Date.now() - started) / 1000);
      log(`  ... still building ${label} (${secs}s elapsed)`);
    }, PROGRESS_EVERY_MS);
    const finish = (ok: boolean, extra = ''): void => {
      clearInterval(ticker);
      resolve({ ok, output: (output + extra).trim() });
    };
    child.once('error', (e) => finish(false, `\n${e.message}`));
    child.once('close', (code) => finish(code === 0));
  });
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
