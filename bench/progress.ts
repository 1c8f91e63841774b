import type { GeneratedChange } from './load-generator.js';
import type { ComponentName, Monitor } from './monitor.js';
import { ascending, percentile } from './stats.js';

const interactive = process.stderr.isTTY === true;

export function say(message: string): void {
  if (interactive) process.stderr.write('\r\x1b[K');
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * The live line while a step runs: elapsed, offered and achieved rate, what is applied,
 * the backlog, latency so far, the connectors' cursor lag and CPU use per component.
 */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private lastCpu = new Map<ComponentName, number>();
  private lastAt = 0;

  constructor(private readonly monitor: Monitor) {}

  begin(label: string, rate: number, seconds: number, changes: readonly GeneratedChange[], pending: () => number, components: readonly ComponentName[], showCursorLag = true): void {
    const started = Date.now();
    this.lastAt = started;
    this.lastCpu = new Map(components.map((name) => [name, this.monitor.cpuTotal(name)]));
    this.timer = setInterval(() => {
      const elapsed = (Date.now() - started) / 1000;
      const phase = elapsed <= seconds ? `${elapsed.toFixed(0)}/${seconds}s` : `draining ${(elapsed - seconds).toFixed(0)}s`;
      const applied = ascending(changes.flatMap((change) => (change.appliedUs === null ? [] : [(change.appliedUs - change.startUs) / 1000])));
      const lag = showCursorLag ? this.monitor.latestLag() : undefined;
      const cursor = lag ? Object.entries(lag.cursorLagS).map(([source, value]) => `${source} ${value === null ? '-' : value.toFixed(1)}s`).join(' ') : '';
      const now = Date.now();
      const cpu = components
        .map((name) => {
          const total = this.monitor.cpuTotal(name);
          const share = ((total - (this.lastCpu.get(name) ?? total)) * 100_000) / Math.max(1, now - this.lastAt);
          this.lastCpu.set(name, total);
          return `${name} ${share.toFixed(0)}%`;
        })
        .join(' ');
      this.lastAt = now;
      const line =
        `${label} ${phase} | offered ${rate}/s, written ${(changes.length / Math.max(1, Math.min(elapsed, seconds))).toFixed(0)}/s` +
        ` | backlog ${pending()} | p50 ${percentile(applied, 50).toFixed(0)} p99 ${percentile(applied, 99).toFixed(0)} ms` +
        (cursor ? ` | cursor lag ${cursor}` : '') +
        ` | cpu ${cpu}`;
      if (interactive) process.stderr.write(`\r\x1b[K[bench] ${line}`);
      else process.stderr.write(`[bench] ${line}\n`);
    }, interactive ? 1_000 : 5_000);
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (interactive) process.stderr.write('\r\x1b[K');
  }
}
