import type { SourceName } from '../../src/domain/room.js';
import { roomKey, type BenchRoom, type Catalog } from '../catalog.js';
import type { GeneratedChange } from '../load-generator.js';
import type { Rng } from '../rng.js';
import { updateQuery, type PlannedWrite } from '../workload.js';

/** One write the fault load attempted: its value is unique for its room and source. */
export interface AttemptedChange {
  readonly key: string;
  readonly hotelCode: string;
  readonly roomCode: string;
  readonly source: SourceName;
  readonly availability: number;
  /** Set once the statement committed; the transaction's start on the database clock, µs since the epoch. */
  committedUs: number | null;
}

/**
 * Load in which every committed change must raise exactly one conflict_audit row: rooms
 * start identical (availability 5 in both sources), and each change sets one room's
 * availability in one source to a value never written before for it, odd in legacy (from
 * 7) and even in cloud, so after any change the two values are both present and differ
 * (the contract's "conflict") while every other field stays equal.
 */
export class FaultWorkload {
  /** Every attempt, committed or not: an attempt whose statement failed may still have committed (a crash mid-commit). */
  readonly attempts: AttemptedChange[] = [];
  private readonly next = new Map<string, number>();
  /** The attempt in flight per room and source: the generator never writes a room twice at once. */
  private readonly inFlight = new Map<string, AttemptedChange>();

  constructor(
    private readonly catalog: Catalog,
    private readonly rng: Rng,
  ) {}

  get committed(): number {
    return this.attempts.reduce((sum, attempt) => sum + (attempt.committedUs === null ? 0 : 1), 0);
  }

  plan(now: number): PlannedWrite | null {
    const rooms = this.catalog.rooms;
    for (let tries = 0; tries < 8; tries++) {
      const room = rooms[Math.floor(this.rng.next() * rooms.length)];
      if (!room || room.busy || room.readyAt > now) continue;
      return this.write(room, this.rng.next() < 0.5 ? 'legacy' : 'cloud');
    }
    return null;
  }

  /** The generator's change callback: stamps the attempt its commit() just confirmed. */
  readonly onChange = (change: GeneratedChange): void => {
    const attempt = this.inFlight.get(change.key);
    if (attempt) attempt.committedUs = change.startUs;
    this.inFlight.delete(change.key);
  };

  private write(room: BenchRoom, source: SourceName): PlannedWrite {
    const key = roomKey(room, source);
    const previous = this.next.get(key) ?? (source === 'legacy' ? 7 : 6);
    this.next.set(key, previous + 2);
    const attempt: AttemptedChange = { key, hotelCode: room.hotel.code, roomCode: room.code, source, availability: previous, committedUs: null };
    this.attempts.push(attempt);
    return {
      room,
      source,
      conflict: true,
      query: updateQuery(source, 'availability', room, previous),
      commit: () => {
        room.values[source].availability = previous;
        this.inFlight.set(key, attempt);
      },
    };
  }
}
