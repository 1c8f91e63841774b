import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { currencyExponent } from '../domain/currency.js';

/** Demo hotels: both classes, a franchise (default class), one-source hotels, and currencies with 0, 2 and 3 decimals. */
export const demoHotels = [
  { code: 'BER001', name: 'Berlin Mitte', mgmt: 'L', currency: 'EUR', baseMinor: 12_900, inLegacy: true, inCloud: true, zone: 'Europe/Berlin' },
  { code: 'PAR002', name: 'Paris Opéra', mgmt: 'C', currency: 'EUR', baseMinor: 18_500, inLegacy: true, inCloud: true, zone: 'Europe/Paris' },
  { code: 'TYO003', name: 'Tokyo Ginza', mgmt: 'L', currency: 'JPY', baseMinor: 15_000, inLegacy: true, inCloud: true, zone: 'Asia/Tokyo' },
  { code: 'NYC004', name: 'New York Midtown', mgmt: 'F', currency: 'USD', baseMinor: 24_900, inLegacy: true, inCloud: true, zone: 'America/New_York' },
  { code: 'LON005', name: 'London Bankside', mgmt: 'C', currency: 'GBP', baseMinor: 16_000, inLegacy: true, inCloud: true, zone: 'Europe/London' },
  { code: 'KWI006', name: 'Kuwait City Marina', mgmt: 'L', currency: 'KWD', baseMinor: 45_000, inLegacy: true, inCloud: true, zone: 'Asia/Kuwait' },
  { code: 'SYD007', name: 'Sydney Harbour', mgmt: 'C', currency: 'AUD', baseMinor: 21_000, inLegacy: false, inCloud: true, zone: 'Australia/Sydney' },
  { code: 'ROM008', name: 'Roma Trastevere', mgmt: 'F', currency: 'EUR', baseMinor: 11_000, inLegacy: true, inCloud: false, zone: 'Europe/Rome' },
] as const;

export type DemoHotel = (typeof demoHotels)[number];

export const demoRoomTypes = [
  ['DBL', 'double'],
  ['KNG', 'king'],
  ['TWN', 'twin'],
  ['SGL', 'single'],
  ['STE', 'suite'],
  ['FAM', 'family'],
] as const;

export const roomsPerHotel = 6;

/** Major-unit decimal for the cloud's numeric(12,2) column; 3-decimal currencies are kept whole-cent. */
export function minorToMajor(minor: number, currency: string): string {
  const exponent = currencyExponent(currency) ?? 2;
  return (minor / 10 ** exponent).toFixed(Math.min(exponent, 2));
}

async function isEmpty(pool: pg.Pool, table: string): Promise<boolean> {
  const { rows } = await pool.query<{ empty: boolean }>(`SELECT NOT EXISTS (SELECT 1 FROM ${table}) AS empty`);
  return rows[0]?.empty ?? true;
}

/** Seeds both sources when both are empty; returns the number of rooms written. */
export async function seedDemo(legacy: pg.Pool, cloud: pg.Pool): Promise<number> {
  if (!(await isEmpty(legacy, 'htl_property')) || !(await isEmpty(cloud, 'properties'))) return 0;
  let rooms = 0;
  for (const hotel of demoHotels) {
    const propertyId = randomUUID();
    if (hotel.inLegacy) {
      await legacy.query('INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd) VALUES ($1, $2, $3, $4)', [
        hotel.code, hotel.name, hotel.mgmt, hotel.currency,
      ]);
    }
    if (hotel.inCloud) {
      await cloud.query('INSERT INTO properties (id, external_code, display_name, timezone) VALUES ($1, $2, $3, $4)', [
        propertyId, hotel.code.toLowerCase(), hotel.name, hotel.zone,
      ]);
    }
    for (let index = 0; index < roomsPerHotel; index++) {
      const [code, type] = demoRoomTypes[index % demoRoomTypes.length] ?? demoRoomTypes[0];
      const roomNumber = String(101 + index);
      const rateMinor = hotel.baseMinor + index * (hotel.currency === 'JPY' ? 1_000 : 1_000);
      if (hotel.inLegacy) {
        // Legacy partners type room numbers loosely: keys are normalized by the pipeline.
        await legacy.query(
          'INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr) VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [hotel.code, index % 2 === 0 ? roomNumber : ` ${roomNumber}`, code, rateMinor, 5 + index, 'A', 'seed'],
        );
      }
      if (hotel.inCloud) {
        // Every other room disagrees on the rate, so the demo shows conflicts from the start.
        const cloudRate = index % 2 === 0 ? rateMinor : rateMinor + (hotel.currency === 'JPY' ? 500 : 750);
        await cloud.query(
          `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, true)`,
          [randomUUID(), propertyId, roomNumber.toLowerCase(), type, minorToMajor(cloudRate, hotel.currency), hotel.currency, 3 + index],
        );
      }
      rooms += 1;
    }
  }
  return rooms;
}
