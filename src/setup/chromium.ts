// The browser the UI tests drive (test/integration/temporal-ui.test.ts): Debian's Chromium,
// launched by playwright-core, which downloads no browser of its own. Installed with apt-get
// when missing and we may; otherwise the error says what to install.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

export type Log = (msg: string) => void;

export const chromiumPath = '/usr/bin/chromium';

/** Headless in a container: no sandbox (root, no user namespaces), no GPU, nothing phoning home. */
export const chromiumLaunchArgs: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PROGRESS_EVERY_MS = 15_000;

export async function ensureChromium(log: Log): Promise<string> {
  if (await isExecutable(chromiumPath)) return chromiumPath;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Chromium is missing at ${chromiumPath} (the Temporal UI tests drive it). Install it as root: ` +
        `sudo apt-get update && sudo apt-get install -y chromium`,
    );
  }
  log(`installing Chromium with apt-get (first time only, for the Temporal UI tests)...`);
  let result = await aptGet(['install', '-y', 'chromium'], log);
  if (!result.ok) {
    // A fresh image often has no package lists yet ("Unable to locate package chromium").
    log('apt-get install chromium failed; running apt-get update and trying again...');
    const update = await aptGet(['update'], log);
    if (!update.ok) throw new Error(`apt-get update failed:\n${update.output.slice(-2_000)}`);
    result = await aptGet(['install', '-y', 'chromium'], log);
  }
  if (!result.ok || !(await isExecutable(chromiumPath))) {
    throw new Error(`apt-get install -y chromium did not install ${chromiumPath}:\n${result.output.slice(-2_000)}`);
  }
  log(`installed Chromium at ${chromiumPath}`);
  return chromiumPath;
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs apt-get non-interactively; prints a line of progress every so often and the last output line. */
export function aptGet(args: readonly string[], log: Log): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let output = '';
    let lastLine = '';
    const child = spawn('apt-get', [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-20_000);
      const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
      lastLine = lines.at(-1) ?? lastLine;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setInterval(() => {
      log(`apt-get ${args[0]} still running (${Math.round((Date.now() - started) / 1000)} s): ${lastLine}`);
    }, PROGRESS_EVERY_MS);
    const finish = (ok: boolean, extra = '') => {
      clearInterval(timer);
      resolve({ ok, output: output + extra });
    };
    child.once('error', (error) => finish(false, `\ncould not run apt-get: ${error.message}`));
    child.once('close', (code) => finish(code === 0));
  });
}
