// The cluster's processes: each started detached (it outlives `cluster start`), with its
// own log and pid file in the data folder; found again, checked and stopped by pid file.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProcessFiles {
  readonly log: string;
  readonly pid: string;
}

export function processFiles(dataDir: string, name: string): ProcessFiles {
  return { log: join(dataDir, `${name}.log`), pid: join(dataDir, `${name}.pid`) };
}

/** Starts `command args` in a session of its own, output appended to its log; returns its pid once the pid file is written. */
export async function startDetached(dataDir: string, name: string, command: string, args: readonly string[]): Promise<number> {
  const files = processFiles(dataDir, name);
  const fd = openSync(files.log, 'a');
  let pid: number | undefined;
  try {
    const child = spawn(command, args, { cwd: dataDir, detached: true, stdio: ['ignore', fd, fd] });
    pid = child.pid;
    // No error event handler would leave a failed spawn to crash us: report it as an error instead.
    child.once('error', () => undefined);
    child.unref();
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error(`could not start ${command} for ${name} (see ${files.log})`);
  await writeFile(files.pid, `${pid}\n`);
  return pid;
}

/** The pid the pid file names while that process is still the one we started (its command line names `command`). */
export async function runningPid(dataDir: string, name: string, command: string): Promise<number | null> {
  const text = await readFile(processFiles(dataDir, name).pid, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline === null || !cmdline.split('\0').includes(command)) return null;
  // A zombie (exited, not yet reaped by its parent) is not running.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return / Z /.test(stat.slice(stat.lastIndexOf(')'))) ? null : pid;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** SIGTERM (the server's graceful stop), SIGKILL after `graceMs`; the pid file goes. Returns how it ended. */
export async function stopProcess(dataDir: string, name: string, command: string, graceMs: number): Promise<'not running' | 'stopped' | 'killed'> {
  const pid = await runningPid(dataDir, name, command);
  let outcome: 'not running' | 'stopped' | 'killed' = 'not running';
  if (pid !== null) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    outcome = 'stopped';
    while ((await runningPid(dataDir, name, command)) !== null) {
      if (Date.now() > deadline) {
        signal(pid, 'SIGKILL');
        outcome = 'killed';
      }
      await sleep(200);
    }
  }
  await rm(processFiles(dataDir, name).pid, { force: true });
  return outcome;
}

/** kill -9 (the fault suite's host failure): no grace, the pid file stays as a crash leaves it. */
export async function killProcess(dataDir: string, name: string, command: string): Promise<number | null> {
  const pid = await runningPid(dataDir, name, command);
  if (pid === null) return null;
  signal(pid, 'SIGKILL');
  while ((await runningPid(dataDir, name, command)) !== null) await sleep(50);
  return pid;
}

/** The last `bytes` of a process's log: what an error message shows. */
export async function logTail(dataDir: string, name: string, bytes = 2_000): Promise<string> {
  const text = await readFile(processFiles(dataDir, name).log, 'utf8').catch(() => '');
  return text.slice(-bytes);
}
