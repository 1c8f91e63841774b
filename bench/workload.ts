import type { SourceName } from '../src/domain/room.js';
import { roomTypes, type BenchRoom, type Catalog, type RoomValues } from './catalog.js';
import type { Rng } from './rng.js';
import { majorRate } from './seed.js';

export type Field = 'rate' | 'availability' | 'status' | 'room_type';

/** One source write the generator will run as a single autocommit statement. */
export interface PlannedWrite {
  readonly room: BenchRoom;
  readonly source: SourceName;
  readonly conflict: boolean;
  readonly query: { readonly name: string; readonly text: string; readonly values: unknown[] };
  /** Folds the write into the model once its statement committed. */
  commit(): void;
}

export interface WorkloadShape {
  readonly conflictShare: number;
  readonly skew: number;
  readonly hotRoomShare: number;
  readonly legacyShare: number;
}

/** Transaction start in microseconds since the epoch: the latency's starting point (see latency-matcher). */
export const stampColumn = `(extract(epoch FROM now()) * 1000000)::bigint::text AS t`;

const legacyColumns: Record<Field, string> = { rate: 'rate_amt', availability: 'allot_qty', status: 'stat_cd', room_type: 'rm_typ_cd' };
const cloudColumns: Record<Field, string> = { rate: 'nightly_rate', availability: 'available_count', status: 'is_active', room_type: 'room_type' };

export function updateQuery(source: SourceName, field: Field, room: BenchRoom, value: number | boolean): PlannedWrite['query'] {
  if (source === 'legacy') {
    const sqlValue = field === 'status' ? (value ? 'A' : 'X') : field === 'room_type' ? roomTypes[Number(value)]?.legacy : value;
    return {
      name: `bench-legacy-${field}`,
      text: `UPDATE htl_room_inv SET ${legacyColumns[field]} = $3, lst_upd_ts = localtimestamp, lst_upd_usr = 'bench'
             WHERE prop_cd = $1 AND rm_nbr = $2 RETURNING ${stampColumn}`,
      values: [room.hotel.code, room.code, sqlValue],
    };
  }
  const sqlValue = field === 'rate' ? majorRate(Number(value)) : field === 'room_type' ? roomTypes[Number(value)]?.cloud : value;
  return {
    name: `bench-cloud-${field}`,
    text: `UPDATE room_inventory SET ${cloudColumns[field]} = $2, version = version + 1, updated_at = now()
           WHERE id = $1 RETURNING ${stampColumn}`,
    values: [room.cloudId, sqlValue],
  };
}

function fieldValue(values: RoomValues, field: Field): number | boolean {
  switch (field) {
    case 'rate':
      return values.rateMinor;
    case 'availability':
      return values.availability;
    case 'status':
      return values.open;
    case 'room_type':
      return values.roomType;
  }
}

function setField(values: RoomValues, field: Field, value: number | boolean): void {
  if (field === 'rate') values.rateMinor = Number(value);
  else if (field === 'availability') values.availability = Number(value);
  else if (field === 'status') values.open = Boolean(value);
  else values.roomType = Number(value);
}

/**
 * Partner traffic as the bench offers it: each change updates one field of one room in
 * one source. A conflicting change leaves that field different from the other source's
 * value (so our pipeline audits it); any other change copies the other source's value.
 */
export class Workload {
  private readonly hotCount: number;

  constructor(
    private readonly catalog: Catalog,
    private readonly roomCount: number,
    private readonly shape: WorkloadShape,
    private readonly rng: Rng,
  ) {
    this.hotCount = Math.max(1, Math.round(roomCount * shape.hotRoomShare));
  }

  /** The next write, or null when every room drawn was busy (the generator retries on its next tick). */
  next(now: number): PlannedWrite | null {
    for (let attempt = 0; attempt < 8; attempt++) {
      const room = this.pickRoom();
      if (room.busy || room.readyAt > now) continue;
      const source: SourceName = this.rng.chance(this.shape.legacyShare) ? 'legacy' : 'cloud';
      return this.plan(room, source);
    }
    return null;
  }

  /** A write to this room (the cold-start phase fills chosen rooms), or null while the room is busy. */
  nextFor(room: BenchRoom, now: number): PlannedWrite | null {
    if (room.busy || room.readyAt > now) return null;
    const source: SourceName = this.rng.chance(this.shape.legacyShare) ? 'legacy' : 'cloud';
    return this.plan(room, source);
  }

  private pickRoom(): BenchRoom {
    const hot = this.hotCount < this.roomCount && this.rng.chance(this.shape.skew);
    const index = hot ? this.rng.int(this.hotCount) : this.hotCount + this.rng.int(this.roomCount - this.hotCount);
    const room = this.catalog.rooms[index];
    if (!room) throw new Error(`no room ${index}`);
    return room;
  }

  private plan(room: BenchRoom, source: SourceName): PlannedWrite {
    const own = room.values[source];
    const other = room.values[source === 'legacy' ? 'cloud' : 'legacy'];
    const wantConflict = this.rng.chance(this.shape.conflictShare);
    const roll = this.rng.next();
    let field: Field = roll < 0.45 ? 'availability' : roll < 0.85 ? 'rate' : roll < 0.95 ? 'status' : 'room_type';
    // A status already differing cannot be changed into another disagreement: use availability.
    if (wantConflict && field === 'status' && own.open !== other.open) field = 'availability';
    const value = wantConflict ? this.conflictingValue(field, fieldValue(own, field), fieldValue(other, field)) : fieldValue(other, field);
    return {
      room,
      source,
      conflict: wantConflict,
      query: updateQuery(source, field, room, value),
      commit: () => setField(own, field, value),
    };
  }

  /** A value different from both the other source's and this source's current one. */
  private conflictingValue(field: Field, own: number | boolean, other: number | boolean): number | boolean {
    if (field === 'status') return !other;
    for (;;) {
      let candidate: number;
      if (field === 'rate') candidate = Math.max(1_000, Number(other) + (this.rng.chance(0.5) ? 1 : -1) * (1 + this.rng.int(5)) * 100);
      else if (field === 'availability') candidate = this.rng.int(21);
      else candidate = this.rng.int(roomTypes.length);
      if (candidate !== other && candidate !== own) return candidate;
    }
  }
}

/** The memory phase: every room once, in order; rooms not in the sources yet are inserted into legacy. */
export class TouchEveryRoom {
  private cursor = 0;

  constructor(
    private readonly rooms: readonly BenchRoom[],
    private readonly existing: number,
  ) {}

  get done(): boolean {
    return this.cursor >= this.rooms.length;
  }

  next(): PlannedWrite | null {
    const room = this.rooms[this.cursor];
    if (!room) return null;
    this.cursor += 1;
    const values = room.values.legacy;
    if (room.index < this.existing) {
      const availability = (values.availability + 1) % 21;
      return {
        room,
        source: 'legacy',
        conflict: false,
        query: updateQuery('legacy', 'availability', room, availability),
        commit: () => setField(values, 'availability', availability),
      };
    }
    return {
      room,
      source: 'legacy',
      conflict: false,
      query: {
        name: 'bench-legacy-insert',
        text: `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr)
               VALUES ($1, $2, $3, $4, $5, 'A', 'bench') RETURNING ${stampColumn}`,
        values: [room.hotel.code, room.code, roomTypes[values.roomType]?.legacy, values.rateMinor, values.availability],
      },
      commit: () => undefined,
    };
  }
}
