import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchDataDir } from './config.js';

const lockPath = join(benchDataDir, 'run.lock');

interface LockContent {
  readonly pid: number;
  readonly children: number[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** A process the bench started: the project's CLI, a baseline consumer, or the bench's Temporal server. */
function isBenchChild(pid: number): boolean {
  const command = commandLine(pid);
  return command.includes('src/cli/main.ts') || command.includes('bench/baseline-consumer.ts') || command.includes('bench/floor/') || command.includes(join(benchDataDir, 'temporal.sqlite')) || command.includes(join(benchDataDir, 'floor', 'temporal.sqlite'));
}

/**
 * One bench at a time: the databases and Temporal files are shared. A lock left by a
 * bench that died is taken over, and the processes it had started are stopped first.
 */
export class RunLock {
  private readonly children = new Set<number>();

  static acquire(): RunLock {
    let previous: LockContent | null = null;
    try {
      previous = JSON.parse(readFileSync(lockPath, 'utf8')) as LockContent;
    } catch {
      previous = null;
    }
    if (previous && previous.pid !== process.pid && alive(previous.pid) && commandLine(previous.pid).includes('bench/run.ts')) {
      throw new Error(`another bench is running (pid ${previous.pid}); wait for it or stop it first`);
    }
    for (const pid of previous?.children ?? []) if (alive(pid) && isBenchChild(pid)) process.kill(pid, 'SIGKILL');
    const lock = new RunLock();
    lock.write();
    // Whatever ends this process, its children must not outlive it.
    process.on('exit', () => lock.killChildren());
    return lock;
  }

  add(pid: number | null): void {
    if (pid === null) return;
    this.children.add(pid);
    this.write();
  }

  release(): void {
    this.killChildren();
    rmSync(lockPath, { force: true });
  }

  private killChildren(): void {
    for (const pid of this.children) if (alive(pid) && isBenchChild(pid)) process.kill(pid, 'SIGKILL');
  }

  private write(): void {
    const content: LockContent = { pid: process.pid, children: [...this.children] };
    writeFileSync(lockPath, JSON.stringify(content));
  }
}
