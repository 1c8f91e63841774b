import { join } from 'node:path';
import type pg from 'pg';
import type { SourceName } from '../src/domain/room.js';
import { ChildService } from './children.js';
import { baselineSlotName, benchDataDir, databaseUrl } from './config.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The naive baseline: one consumer process per source (bench/baseline-consumer.ts). */
export class Baseline {
  private readonly consumers = new Map<SourceName, ChildService>();

  constructor(
    private readonly concurrency: number,
    private readonly onSpawn: (pid: number) => void,
  ) {}

  get pids(): number[] {
    return [...this.consumers.values()].map((consumer) => consumer.pid);
  }

  /** Starts both consumers and waits until each streams from its own slot. */
  /** `resume`: keep each slot and what it holds (the drain phase); otherwise start from the current WAL position. */
  async start(admin: pg.Pool, { resume = false } = {}): Promise<void> {
    for (const source of ['legacy', 'cloud'] as const) {
      const env = {
        BASELINE_SOURCE: source,
        BASELINE_SOURCE_URL: databaseUrl(source),
        BASELINE_UNIFIED_URL: databaseUrl('unified'),
        BASELINE_CONCURRENCY: String(this.concurrency),
        BASELINE_RESUME_SLOT: resume ? '1' : '0',
      };
      const consumer = ChildService.start(`baseline ${source}`, ['bench/baseline-consumer.ts'], env, join(benchDataDir, `baseline-${source}.log`));
      this.consumers.set(source, consumer);
      this.onSpawn(consumer.pid);
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await admin.query<{ active: number }>(
        'SELECT count(*)::int AS active FROM pg_replication_slots WHERE slot_name = ANY($1) AND active',
        [[baselineSlotName('legacy'), baselineSlotName('cloud')]],
      );
      if (rows[0]?.active === 2) return;
      const dead = [...this.consumers.values()].find((consumer) => !consumer.running);
      if (dead) throw new Error(`${dead.name} exited (see ${dead.logPath})`);
      if (Date.now() > deadline) throw new Error('the baseline consumers did not start streaming within 60s');
      await sleep(250);
    }
  }

  async stop(): Promise<void> {
    for (const consumer of this.consumers.values()) await consumer.stop();
    this.consumers.clear();
  }
}

