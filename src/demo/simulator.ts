import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { currencyExponent } from '../domain/currency.js';
import type { Logger } from '../observability/logger.js';
import { demoHotels, demoRoomTypes, minorToMajor, roomsPerHotel } from './seed.js';

export interface SimulatorOptions {
  readonly changesPerSecond: number;
  /** One deliberately bad row every this many changes, to show the dead-letter path. */
  readonly badRowEvery: number;
  readonly log: Logger;
}

const pick = <T>(items: readonly T[]): T => {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};

/**
 * Partner traffic for the demo: two writers, one per source, updating the same rooms
 * concurrently (rates, allotments, open/close, the odd room leaving and coming back).
 */
export class PartnerTrafficSimulator {
  private timers: NodeJS.Timeout[] = [];
  private written = 0;
  private inFlight = 0;

  constructor(
    private readonly legacy: pg.Pool,
    private readonly cloud: pg.Pool,
    private readonly options: SimulatorOptions,
  ) {}

  start(): void {
    const perSourceIntervalMs = Math.max(5, Math.round(2_000 / this.options.changesPerSecond));
    this.timers.push(setInterval(() => void this.run(() => this.legacyChange()), perSourceIntervalMs));
    this.timers.push(setInterval(() => void this.run(() => this.cloudChange()), perSourceIntervalMs));
    this.options.log.info('partner traffic simulator running', { changesPerSecond: this.options.changesPerSecond });
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private async run(change: () => Promise<void>): Promise<void> {
    if (this.inFlight > 8) return; // a slow database sheds demo load instead of queueing it
    this.inFlight += 1;
    try {
      await change();
      this.written += 1;
    } catch (error) {
      this.options.log.warn('simulated partner write failed', { error });
    } finally {
      this.inFlight -= 1;
    }
  }

  private badRowDue(): boolean {
    return this.options.badRowEvery > 0 && this.written % this.options.badRowEvery === this.options.badRowEvery - 1;
  }

  private async legacyChange(): Promise<void> {
    const hotel = pick(demoHotels.filter((candidate) => candidate.inLegacy));
    if (this.badRowDue()) {
      // An extranet typo: a room type code legacy's own list does not have.
      await this.legacy.query(
        `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr)
         VALUES ($1, $2, 'PNT', 99900, 1, 'A', 'simulator') ON CONFLICT DO NOTHING`,
        [hotel.code, `X${Math.floor(Math.random() * 900 + 100)}`],
      );
      return;
    }
    const room = String(101 + Math.floor(Math.random() * roomsPerHotel));
    const where = 'WHERE prop_cd = $1 AND upper(trim(rm_nbr)) = $2';
    const roll = Math.random();
    if (roll < 0.4) {
      await this.legacy.query(`UPDATE htl_room_inv SET allot_qty = $3, lst_upd_ts = localtimestamp, lst_upd_usr = 'simulator' ${where}`, [
        hotel.code, room, Math.floor(Math.random() * 12),
      ]);
    } else if (roll < 0.8) {
      const step = hotel.currency === 'JPY' ? 500 : 250;
      await this.legacy.query(
        `UPDATE htl_room_inv SET rate_amt = greatest(rate_amt + $3, 1000), lst_upd_ts = localtimestamp, lst_upd_usr = 'simulator' ${where}`,
        [hotel.code, room, (Math.random() < 0.5 ? -1 : 1) * step],
      );
    } else if (roll < 0.95) {
      await this.legacy.query(
        `UPDATE htl_room_inv SET stat_cd = CASE stat_cd WHEN 'A' THEN 'X' ELSE 'A' END, lst_upd_ts = localtimestamp ${where}`,
        [hotel.code, room],
      );
    } else {
      await this.legacy.query(`UPDATE htl_room_inv SET rm_typ_cd = $3, lst_upd_ts = localtimestamp ${where}`, [
        hotel.code, room, pick(demoRoomTypes)[0],
      ]);
    }
  }

  private async cloudChange(): Promise<void> {
    const hotel = pick(demoHotels.filter((candidate) => candidate.inCloud));
    const { rows } = await this.cloud.query<{ id: string }>('SELECT id FROM properties WHERE external_code = $1', [hotel.code.toLowerCase()]);
    const propertyId = rows[0]?.id;
    if (!propertyId) return;
    if (this.badRowDue()) {
      // A yen rate with cents cannot be represented: the pipeline dead-letters it.
      await this.cloud.query(
        `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count)
         VALUES ($1, $2, $3, 'double', 100.50, 'JPY', 2) ON CONFLICT DO NOTHING`,
        [randomUUID(), propertyId, `x${Math.floor(Math.random() * 900 + 100)}`],
      );
      return;
    }
    const room = String(101 + Math.floor(Math.random() * roomsPerHotel));
    const where = 'WHERE property_id = $1 AND room_code = $2';
    const roll = Math.random();
    if (roll < 0.45) {
      await this.cloud.query(`UPDATE room_inventory SET available_count = $3, version = version + 1, updated_at = now() ${where}`, [
        propertyId, room, Math.floor(Math.random() * 12),
      ]);
    } else if (roll < 0.85) {
      const { rows: current } = await this.cloud.query<{ nightly_rate: string | null }>(`SELECT nightly_rate FROM room_inventory ${where}`, [propertyId, room]);
      const currentMinor = Math.round(Number(current[0]?.nightly_rate ?? minorToMajor(hotel.baseMinor, hotel.currency)) * 10 ** (currencyExponent(hotel.currency) ?? 2));
      const step = hotel.currency === 'JPY' ? 500 : 250;
      const next = Math.max(1_000, currentMinor + (Math.random() < 0.5 ? -1 : 1) * step);
      await this.cloud.query(`UPDATE room_inventory SET nightly_rate = $3, version = version + 1, updated_at = now() ${where}`, [
        propertyId, room, minorToMajor(next, hotel.currency),
      ]);
    } else if (roll < 0.97) {
      await this.cloud.query(`UPDATE room_inventory SET is_active = NOT is_active, version = version + 1, updated_at = now() ${where}`, [propertyId, room]);
    } else {
      // A room leaves the platform and is re-listed a little later.
      const { rows: removed } = await this.cloud.query<Record<string, unknown>>(`DELETE FROM room_inventory ${where} RETURNING *`, [propertyId, room]);
      const row = removed[0];
      if (row) {
        this.timers.push(setTimeout(() => {
          void this.run(async () => {
            await this.cloud.query(
              `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
               VALUES ($1, $2, $3, $4, $5, $6, $7, true) ON CONFLICT DO NOTHING`,
              [randomUUID(), propertyId, room, row['room_type'], row['nightly_rate'], row['currency'], row['available_count']],
            );
          });
        }, 10_000));
      }
    }
  }
}
