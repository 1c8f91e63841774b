import type { GeneratedChange } from './load-generator.js';

/** A bench_applied row: at `appliedUs` the room reflected every change of that source committed up to `commitUs`. */
export interface AppliedRow {
  readonly key: string;
  readonly commitUs: number;
  readonly appliedUs: number;
}

interface KeyState {
  readonly pending: GeneratedChange[];
  pendingHead: number;
  readonly applied: AppliedRow[];
  appliedHead: number;
}

/**
 * Pairs each generated change with the first applied row of its room and source whose
 * commit time is at or after the change's transaction start (both on the database
 * clock). Stored commit times are truncated to the millisecond, hence the floor; writes
 * to one room are serialized and 2 ms apart, so an earlier change's commit cannot
 * satisfy a later change. Rows and changes may arrive in either order.
 */
export class LatencyMatcher {
  private readonly keys = new Map<string, KeyState>();
  private pendingCount = 0;

  get pending(): number {
    return this.pendingCount;
  }

  addChange(change: GeneratedChange): void {
    const state = this.state(change.key);
    state.pending.push(change);
    this.pendingCount += 1;
    this.match(state);
  }

  addApplied(row: AppliedRow): void {
    const state = this.state(row.key);
    state.applied.push(row);
    this.match(state);
  }

  /** Forget changes not matched so far (a phase ended without them); returns how many. */
  abandonPending(): number {
    const abandoned = this.pendingCount;
    for (const state of this.keys.values()) {
      state.pending.length = 0;
      state.pendingHead = 0;
    }
    this.pendingCount = 0;
    return abandoned;
  }

  private state(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) {
      state = { pending: [], pendingHead: 0, applied: [], appliedHead: 0 };
      this.keys.set(key, state);
    }
    return state;
  }

  private match(state: KeyState): void {
    while (state.pendingHead < state.pending.length) {
      const change = state.pending[state.pendingHead];
      if (!change) break;
      const threshold = Math.floor(change.startUs / 1000) * 1000;
      while (state.appliedHead < state.applied.length && (state.applied[state.appliedHead]?.commitUs ?? 0) < threshold) state.appliedHead += 1;
      const row = state.applied[state.appliedHead];
      if (!row) break;
      change.appliedUs = row.appliedUs;
      state.pendingHead += 1;
      this.pendingCount -= 1;
    }
    if (state.pendingHead > 256) {
      state.pending.splice(0, state.pendingHead);
      state.pendingHead = 0;
    }
    if (state.appliedHead > 256) {
      state.applied.splice(0, state.appliedHead);
      state.appliedHead = 0;
    }
  }
}
