import type pg from 'pg';
import type { AppliedRow } from './latency-matcher.js';

export type Target = 'ours' | 'baseline' | 'floor';

interface FeedRow {
  readonly id: string;
  readonly target: string;
  readonly key: string;
  readonly commit_us: string;
  readonly applied_us: string;
}

/** Ids not seen yet below the newest seen one are waited for this long (a rolled-back insert leaves a gap for good). */
const gapPatienceMs = 30_000;

/**
 * Reads bench_applied as it grows. Ids are taken from a sequence before commit, so a
 * smaller id can become visible after a larger one: unseen ids below the newest are
 * re-read until they show up or are given up on.
 */
export class AppliedFeed {
  private newest = 0;
  private readonly missing = new Map<number, number>();
  private queries = 0;

  constructor(
    private readonly unified: pg.Pool,
    private readonly deliver: (target: Target, row: AppliedRow) => void,
  ) {}

  /** Transactions this feed ran on the unified database, to leave out of its per-change count. */
  get transactions(): number {
    return this.queries;
  }

  /** Reads what is new; returns the number of rows delivered. */
  async poll(): Promise<number> {
    const now = Date.now();
    for (const [id, since] of this.missing) if (now - since > gapPatienceMs) this.missing.delete(id);
    let low = this.newest;
    for (const id of this.missing.keys()) low = Math.min(low, id - 1);
    this.queries += 1;
    const { rows } = await this.unified.query<FeedRow>(
      `SELECT id::text, target, hotel_code || '/' || room_code || '/' || source AS key,
              (extract(epoch FROM commit_time) * 1000000)::bigint::text AS commit_us,
              (extract(epoch FROM applied_at) * 1000000)::bigint::text AS applied_us
         FROM bench_applied WHERE id > $1 ORDER BY bench_applied.id LIMIT 200000`, // the bigint, not the text column above
      [low],
    );
    let delivered = 0;
    for (const row of rows) {
      const id = Number(row.id);
      if (id <= this.newest && !this.missing.has(id)) continue;
      this.missing.delete(id);
      if (id > this.newest) {
        for (let gap = this.newest + 1; gap < id; gap++) this.missing.set(gap, now);
        this.newest = id;
      }
      const target: Target = row.target === 'baseline' ? 'baseline' : row.target === 'floor' ? 'floor' : 'ours';
      this.deliver(target, { key: row.key, commitUs: Number(row.commit_us), appliedUs: Number(row.applied_us) });
      delivered += 1;
    }
    return delivered;
  }
}
