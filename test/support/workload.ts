// Source fixtures and a random (seeded, reproducible) workload of partner writes into
// both sources, for the integration tests. Everything goes through plain SQL on the
// source tables, as partners' systems would write them.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { roomKey } from './reference.js';

/** A pool or a checked-out client (inside a transaction). */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** mulberry32: small, fast, good enough to shuffle test writes reproducibly. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/** A seed from TEST_SEED when set (to replay a failure), else a fresh one; tests print it. */
export function testSeed(): number {
  const fromEnv = process.env['TEST_SEED'];
  return fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
}

export interface HotelSpec {
  /** The unified hotel code, e.g. 'BER001' (legacy pads it to 8, cloud writes it lower case). */
  readonly code: string;
  /** The legacy property; null for a hotel only the cloud platform has. */
  readonly legacy: { readonly mgmt: string; readonly currency: string } | null;
  readonly cloud: boolean;
  /** Currencies the cloud platform quotes this hotel's rates in (the first most often). */
  readonly cloudCurrencies: readonly string[];
  /** Unified room codes. */
  readonly rooms: readonly string[];
}

/** Amounts that both sources use, so their values often agree and often differ. */
const ratesByCurrency: Readonly<Record<string, readonly string[]>> = {
  EUR: ['129.00', '135.00', '140.50'],
  USD: ['149.00', '155.25'],
  GBP: ['110.00', '119.99'],
  CHF: ['180.00', '195.50'],
  JPY: ['15000', '18000', '21000'],
  KWD: ['45.125', '47.000'],
};
const exponentOf: Readonly<Record<string, number>> = { EUR: 2, USD: 2, GBP: 2, CHF: 2, JPY: 0, KWD: 3 };

export function majorAmounts(currency: string): readonly string[] {
  const amounts = ratesByCurrency[currency];
  if (!amounts) throw new Error(`no test amounts for ${currency}`);
  return amounts;
}

/** '140.50' EUR -> 14050 (the test's own arithmetic, for legacy minor-unit amounts). */
export function minorOf(major: string, currency: string): number {
  const exponent = exponentOf[currency] ?? 2;
  const [whole = '0', fraction = ''] = major.split('.');
  return Number(whole + fraction.padEnd(exponent, '0').slice(0, exponent));
}

const legacyTypeCodes = ['DBL', 'KNG', 'TWN', 'SGL', 'STE', 'FAM'] as const;
const cloudTypes = ['double', 'king', 'twin', 'single', 'suite', 'family'] as const;

/** The same room code as legacy partners type it: any case, may carry blanks. */
function legacySpelling(room: string, rng: Rng): string {
  return rng.pick([room, ` ${room}`, `${room.toLowerCase()} `, ` ${room.toLowerCase()} `]);
}

export async function insertLegacyProperty(pool: Queryable, code: string, mgmt: string, currency: string): Promise<void> {
  await pool.query('INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd) VALUES ($1, $2, $3, $4)', [
    code,
    `Hotel ${code}`,
    mgmt,
    currency,
  ]);
}

export async function insertCloudProperty(pool: Queryable, code: string, id: string = randomUUID()): Promise<string> {
  await pool.query("INSERT INTO properties (id, external_code, display_name, timezone) VALUES ($1, $2, $3, 'Europe/Berlin')", [
    id,
    code.toLowerCase(),
    `Hotel ${code}`,
  ]);
  return id;
}

export interface LegacyRoomValues {
  rm_typ_cd: string | null;
  rate_amt: number | null;
  allot_qty: number | null;
  stat_cd: string;
}

export async function insertLegacyRoom(pool: Queryable, propCd: string, rmNbr: string, values: LegacyRoomValues): Promise<void> {
  await pool.query(
    `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr) VALUES ($1, $2, $3, $4, $5, $6, 'test')`,
    [propCd, rmNbr, values.rm_typ_cd, values.rate_amt, values.allot_qty, values.stat_cd],
  );
}

export interface CloudRoomValues {
  room_type: string | null;
  nightly_rate: string | null;
  currency: string | null;
  available_count: number | null;
  is_active: boolean;
}

export async function insertCloudRoom(
  pool: Queryable,
  propertyId: string,
  roomCode: string,
  values: CloudRoomValues,
  id: string = randomUUID(),
): Promise<string> {
  await pool.query(
    `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [id, propertyId, roomCode, values.room_type, values.nightly_rate, values.currency, values.available_count, values.is_active],
  );
  return id;
}

interface RoomState {
  readonly hotel: HotelSpec;
  readonly room: string;
  /** The legacy row's rm_nbr, once it has one (legacy rows are never removed). */
  legacyRmNbr: string | null;
  /** The cloud row's id while it has one. */
  cloudId: string | null;
}

/**
 * Holds which rows exist where and writes random partner changes: several fields per
 * transaction, several rooms per transaction, inserts, legacy 'D' marks and cloud DELETEs.
 * The tests never trust this bookkeeping for the expected result: they read the source
 * tables back. It only needs `knownKeys`, the rooms that ever existed.
 */
export class Workload {
  readonly knownKeys = new Set<string>();
  readonly cloudPropertyIds = new Map<string, string>();
  private readonly rooms: RoomState[] = [];
  writes = { legacy: 0, cloud: 0 };

  constructor(
    readonly hotels: readonly HotelSpec[],
    readonly rng: Rng,
  ) {
    for (const hotel of hotels) for (const room of hotel.rooms) this.rooms.push({ hotel, room, legacyRmNbr: null, cloudId: null });
  }

  /**
   * Properties, then rooms: `legacyShare`/`cloudShare` of the rooms get a row in each source.
   * `roomlessProperties` adds that many hotels without rooms (yet) to each source: rows the
   * snapshot must read and record, without a room workflow each.
   */
  async seed(legacy: pg.Pool, cloud: pg.Pool, { legacyShare = 0.8, cloudShare = 0.8, roomlessProperties = 0 } = {}): Promise<void> {
    for (let i = 0; i < roomlessProperties; i += 250) {
      const codes = Array.from({ length: Math.min(250, roomlessProperties - i) }, (_, n) => `ON${String(i + n).padStart(5, '0')}`);
      await legacy.query(
        `INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd)
         SELECT code, 'Onboarding ' || code, (ARRAY['L', 'C', 'F'])[1 + n % 3], (ARRAY['EUR', 'JPY', 'USD'])[1 + n % 3]
           FROM unnest($1::text[]) WITH ORDINALITY AS t (code, n)`,
        [codes],
      );
      await cloud.query(
        `INSERT INTO properties (id, external_code, display_name, timezone)
         SELECT gen_random_uuid(), lower(code), 'Onboarding ' || code, 'Asia/Tokyo' FROM unnest($1::text[]) AS t (code)`,
        [codes],
      );
    }
    for (const hotel of this.hotels) {
      if (hotel.legacy) await insertLegacyProperty(legacy, hotel.code, hotel.legacy.mgmt, hotel.legacy.currency);
      if (hotel.cloud) this.cloudPropertyIds.set(hotel.code, await insertCloudProperty(cloud, hotel.code));
    }
    const legacyRows: unknown[][] = [];
    const cloudRows: unknown[][] = [];
    for (const state of this.rooms) {
      if (state.hotel.legacy && this.rng.chance(legacyShare)) {
        state.legacyRmNbr = legacySpelling(state.room, this.rng);
        const values = this.randomLegacyValues(state, true);
        legacyRows.push([state.hotel.code, state.legacyRmNbr, values.rm_typ_cd, values.rate_amt, values.allot_qty, values.stat_cd]);
        this.knownKeys.add(roomKey(state.hotel.code, state.room));
      }
      const propertyId = this.cloudPropertyIds.get(state.hotel.code);
      if (propertyId && this.rng.chance(cloudShare)) {
        state.cloudId = randomUUID();
        const values = this.randomCloudValues(state);
        cloudRows.push([state.cloudId, propertyId, state.room.toLowerCase(), values.room_type, values.nightly_rate, values.currency, values.available_count, values.is_active]);
        this.knownKeys.add(roomKey(state.hotel.code, state.room));
      }
    }
    // Bulk inserts keep seeding a few thousand rows quick.
    for (let i = 0; i < legacyRows.length; i += 500) {
      const chunk = legacyRows.slice(i, i + 500);
      await legacy.query(
        `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd) VALUES ${chunk
          .map((_, r) => `($${r * 6 + 1}, $${r * 6 + 2}, $${r * 6 + 3}, $${r * 6 + 4}, $${r * 6 + 5}, $${r * 6 + 6})`)
          .join(', ')}`,
        chunk.flat(),
      );
    }
    for (let i = 0; i < cloudRows.length; i += 500) {
      const chunk = cloudRows.slice(i, i + 500);
      await cloud.query(
        `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active) VALUES ${chunk
          .map((_, r) => `(${Array.from({ length: 8 }, (__, c) => `$${r * 8 + c + 1}`).join(', ')})`)
          .join(', ')}`,
        chunk.flat(),
      );
    }
  }

  private legacyCurrency(state: RoomState): string {
    return state.hotel.legacy?.currency ?? 'EUR';
  }

  private randomLegacyValues(state: RoomState, fresh: boolean): LegacyRoomValues {
    const currency = this.legacyCurrency(state);
    return {
      rm_typ_cd: this.rng.chance(0.1) ? null : this.rng.pick(legacyTypeCodes),
      rate_amt: this.rng.chance(0.1) ? null : minorOf(this.rng.pick(majorAmounts(currency)), currency),
      allot_qty: this.rng.chance(0.1) ? null : this.rng.int(7),
      stat_cd: fresh ? this.rng.pick(['A', 'A', 'A', 'X']) : this.rng.pick(['A', 'A', 'A', 'X', 'X', 'D']),
    };
  }

  private randomCloudValues(state: RoomState): CloudRoomValues {
    const currency = this.rng.chance(0.8) ? (state.hotel.cloudCurrencies[0] ?? 'EUR') : this.rng.pick(state.hotel.cloudCurrencies);
    const withRate = !this.rng.chance(0.1);
    return {
      room_type: this.rng.chance(0.1) ? null : this.rng.pick(cloudTypes),
      nightly_rate: withRate ? this.rng.pick(majorAmounts(currency)) : null,
      currency: withRate || this.rng.chance(0.5) ? currency : null,
      available_count: this.rng.chance(0.1) ? null : this.rng.int(7),
      is_active: !this.rng.chance(0.25),
    };
  }

  /** One legacy transaction of one to three room changes. */
  async legacyStep(pool: pg.Pool): Promise<void> {
    const candidates = this.rooms.filter((state) => state.hotel.legacy);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let n = 1 + this.rng.int(3); n > 0; n--) {
        const state = this.rng.pick(candidates);
        if (state.legacyRmNbr === null) {
          state.legacyRmNbr = legacySpelling(state.room, this.rng);
          await insertLegacyRoom(client, state.hotel.code, state.legacyRmNbr, this.randomLegacyValues(state, true));
          this.knownKeys.add(roomKey(state.hotel.code, state.room));
          continue;
        }
        const values = this.randomLegacyValues(state, false);
        const what = this.rng.int(6);
        const sets =
          what === 0
            ? { rate_amt: values.rate_amt }
            : what === 1
              ? { allot_qty: values.allot_qty }
              : what === 2
                ? { rm_typ_cd: values.rm_typ_cd }
                : what === 3
                  ? { stat_cd: values.stat_cd }
                  : what === 4
                    ? { lst_upd_usr: `u${this.rng.int(1000)}` } // a change that changes no unified field
                    : values;
        const columns = Object.keys(sets);
        await client.query(
          `UPDATE htl_room_inv SET ${columns.map((column, i) => `${column} = $${i + 3}`).join(', ')}, lst_upd_ts = localtimestamp
            WHERE prop_cd = $1 AND rm_nbr = $2`,
          [state.hotel.code, state.legacyRmNbr, ...(Object.values(sets) as unknown[])],
        );
      }
      await client.query('COMMIT');
      this.writes.legacy += 1;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /** One cloud transaction of one to three room changes, including DELETEs and re-inserts. */
  async cloudStep(pool: pg.Pool): Promise<void> {
    const candidates = this.rooms.filter((state) => this.cloudPropertyIds.has(state.hotel.code));
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let n = 1 + this.rng.int(3); n > 0; n--) {
        const state = this.rng.pick(candidates);
        const propertyId = this.cloudPropertyIds.get(state.hotel.code);
        if (propertyId === undefined) throw new Error('unreachable');
        if (state.cloudId === null) {
          state.cloudId = await insertCloudRoom(client, propertyId, state.room.toLowerCase(), this.randomCloudValues(state));
          this.knownKeys.add(roomKey(state.hotel.code, state.room));
          continue;
        }
        if (this.rng.chance(0.08)) {
          await client.query('DELETE FROM room_inventory WHERE id = $1', [state.cloudId]);
          state.cloudId = null;
          continue;
        }
        const values = this.randomCloudValues(state);
        const what = this.rng.int(5);
        const sets =
          what === 0
            ? { nightly_rate: values.nightly_rate, currency: values.currency }
            : what === 1
              ? { available_count: values.available_count }
              : what === 2
                ? { room_type: values.room_type }
                : what === 3
                  ? { is_active: values.is_active }
                  : values;
        const columns = Object.keys(sets);
        await client.query(
          `UPDATE room_inventory SET ${columns.map((column, i) => `${column} = $${i + 2}`).join(', ')}, version = version + 1, updated_at = now()
            WHERE id = $1`,
          [state.cloudId, ...(Object.values(sets) as unknown[])],
        );
      }
      await client.query('COMMIT');
      this.writes.cloud += 1;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Two partners writing at once, one per source, until each has written `steps`
   * transactions or `until()` says stop. Returns the number of transactions written.
   */
  async runWriters(
    legacy: pg.Pool,
    cloud: pg.Pool,
    steps: number,
    { until = () => false, pauseMs = 0 }: { until?: () => boolean; pauseMs?: number } = {},
  ): Promise<number> {
    const before = this.writes.legacy + this.writes.cloud;
    const writer = async (step: () => Promise<void>) => {
      for (let i = 0; i < steps && !until(); i++) {
        await step();
        // Pacing of the partners' traffic (not a wait for the pipeline): keeps the two CPUs for the pipeline.
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    };
    await Promise.all([writer(() => this.legacyStep(legacy)), writer(() => this.cloudStep(cloud))]);
    return this.writes.legacy + this.writes.cloud - before;
  }
}

/** Hotels of every class: L, C and F in legacy, one hotel only the cloud has; EUR, USD, GBP, CHF, JPY and KWD. */
export function standardHotels(roomsPerHotel: number, hotelsPerClass = 2): HotelSpec[] {
  const rooms = (prefix: string) =>
    Array.from({ length: roomsPerHotel }, (_, i) => (i % 3 === 2 ? `${prefix}${String.fromCharCode(65 + (i % 26))}${i}` : `${100 + i}`));
  const hotels: HotelSpec[] = [];
  const classes: { mgmt: string; currencies: readonly (readonly [string, readonly string[]])[] }[] = [
    { mgmt: 'L', currencies: [['EUR', ['EUR', 'USD']], ['JPY', ['JPY']], ['GBP', ['GBP', 'EUR']]] },
    { mgmt: 'C', currencies: [['USD', ['USD']], ['JPY', ['JPY', 'USD']], ['CHF', ['CHF']]] },
    { mgmt: 'F', currencies: [['EUR', ['EUR']], ['GBP', ['GBP']], ['JPY', ['JPY']]] },
  ];
  for (const { mgmt, currencies } of classes) {
    for (let h = 0; h < hotelsPerClass; h++) {
      const [currency, cloudCurrencies] = currencies[h % currencies.length] ?? ['EUR', ['EUR']];
      hotels.push({
        code: `${mgmt}${currency}${h}`,
        legacy: { mgmt, currency },
        cloud: true,
        cloudCurrencies,
        rooms: rooms('R'),
      });
    }
  }
  hotels.push({ code: 'CLOUDKW1', legacy: null, cloud: true, cloudCurrencies: ['KWD', 'EUR'], rooms: rooms('K') });
  return hotels;
}
