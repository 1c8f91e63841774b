import type pg from 'pg';
import type { SourceName } from '../src/domain/room.js';
import { roomKey } from './catalog.js';
import type { PlannedWrite } from './workload.js';

/** One committed source change, and when the unified view first reflected it. */
export interface GeneratedChange {
  /** hotel/room/source: changes and applied rows meet on it. */
  readonly key: string;
  readonly source: SourceName;
  readonly conflict: boolean;
  /** The source transaction's start, now() inside it, in µs since the epoch. */
  readonly startUs: number;
  appliedUs: number | null;
}

export interface GeneratorRun {
  readonly offeredPerS: number;
  readonly seconds: number;
  readonly committed: number;
  readonly failed: number;
  /** Writes that could not go out on time because every connection was busy or every drawn room was. */
  readonly maxBehind: number;
  readonly achievedPerS: number;
}

export interface GeneratorLimits {
  readonly rate: number;
  readonly seconds: number;
  /** Stop after this many writes (the memory phase); the duration still bounds the run. */
  readonly maxWrites?: number;
  /** Checked before each write: true ends the run early (bench/faults runs load until its scenario is done). */
  readonly stopped?: () => boolean;
}

const roomSpacingMs = 2;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An open-loop generator: writes are due at a fixed rate whatever the pipeline does;
 * each is one autocommit statement. Two writes to one room never overlap and are at
 * least 2 ms apart, so their commit times order them (see latency-matcher).
 */
export class LoadGenerator {
  private inFlight = 0;
  private firstError: unknown = null;

  constructor(
    private readonly pools: Readonly<Record<SourceName, pg.Pool>>,
    private readonly maxInFlight: number,
    private readonly onChange: (change: GeneratedChange) => void,
  ) {}

  get error(): unknown {
    return this.firstError;
  }

  async run(plan: (now: number) => PlannedWrite | null, limits: GeneratorLimits): Promise<GeneratorRun> {
    const started = performance.now();
    const deadline = started + limits.seconds * 1000;
    const maxWrites = limits.maxWrites ?? Number.POSITIVE_INFINITY;
    let issued = 0;
    let maxBehind = 0;
    const counts = { committed: 0, failed: 0 };
    for (let now = performance.now(); now < deadline && issued < maxWrites && limits.stopped?.() !== true; now = performance.now()) {
      const due = Math.min(maxWrites, Math.floor(((now - started) / 1000) * limits.rate));
      while (issued < due && this.inFlight < this.maxInFlight) {
        const write = plan(now);
        if (write === null) break;
        this.issue(write, counts);
        issued += 1;
      }
      maxBehind = Math.max(maxBehind, due - issued);
      await sleep(2);
    }
    const seconds = (performance.now() - started) / 1000;
    while (this.inFlight > 0) await sleep(2);
    return {
      offeredPerS: limits.rate,
      seconds,
      committed: counts.committed,
      failed: counts.failed,
      maxBehind,
      achievedPerS: counts.committed / seconds,
    };
  }

  private issue(write: PlannedWrite, counts: { committed: number; failed: number }): void {
    const { room, source } = write;
    room.busy = true;
    this.inFlight += 1;
    this.pools[source]
      .query<{ t: string }>(write.query)
      .then(
        (result) => {
          const stamp = result.rows[0]?.t;
          if (stamp === undefined) throw new Error(`no row for ${roomKey(room, source)}`);
          write.commit();
          counts.committed += 1;
          this.onChange({ key: roomKey(room, source), source, conflict: write.conflict, startUs: Number(stamp), appliedUs: null });
        },
      )
      .catch((error: unknown) => {
        counts.failed += 1;
        this.firstError ??= error;
      })
      .finally(() => {
        room.busy = false;
        room.readyAt = performance.now() + roomSpacingMs;
        this.inFlight -= 1;
      });
  }
}
