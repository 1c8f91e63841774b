import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface StatLine {
  readonly ppid: number;
  /** utime + stime of the process itself, in seconds. */
  readonly cpuSeconds: number;
}

/** /proc/<pid>/stat; null once the process is gone. */
export function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { ppid, cpuSeconds: (utime + stime) / clockTicks };
}

export interface Memory {
  readonly rssKiB: number;
  /** VmHWM: the peak resident set since the process started. */
  readonly hwmKiB: number;
}

export function readMemory(pid: number): Memory | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Every process's parent, read once per sample. */
export function processTree(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  return children;
}

export function withDescendants(roots: readonly number[], tree: Map<number, number[]>): number[] {
  const all: number[] = [];
  const queue = [...roots];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    all.push(pid);
    queue.push(...(tree.get(pid) ?? []));
  }
  return all;
}

/**
 * CPU seconds and memory of a set of processes over time. CPU is the sum, over every
 * pid ever seen, of its last reading, so it only grows; memory is the roots' own.
 */
export class ProcessMeter {
  private readonly cpuByPid = new Map<number, number>();
  private peakHwmKiB = 0;
  private lastRssKiB = 0;

  sample(pids: readonly number[], roots: readonly number[] = pids): void {
    for (const pid of pids) {
      const stat = readStat(pid);
      if (stat) this.cpuByPid.set(pid, stat.cpuSeconds);
    }
    let rss = 0;
    for (const pid of roots) {
      const memory = readMemory(pid);
      if (!memory) continue;
      rss += memory.rssKiB;
      this.peakHwmKiB = Math.max(this.peakHwmKiB, memory.hwmKiB);
    }
    if (roots.length > 0) this.lastRssKiB = rss;
  }

  get cpuSeconds(): number {
    let total = 0;
    for (const cpu of this.cpuByPid.values()) total += cpu;
    return total;
  }

  get rssKiB(): number {
    return this.lastRssKiB;
  }

  /** The highest VmHWM any root reported. */
  get peakKiB(): number {
    return this.peakHwmKiB;
  }
}

/** Busy CPU seconds of the whole machine, all cores, from /proc/stat (user+nice+system+irq+softirq+steal). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
  return (user + nice + system + irq + softirq + steal) / clockTicks;
}
