import type pg from 'pg';
import { roomTypes, type BenchHotel, type BenchRoom } from './catalog.js';

const chunk = 1_000;

export function majorRate(minor: number): string {
  return (minor / 100).toFixed(2);
}

export async function insertHotels(legacy: pg.Pool, cloud: pg.Pool, hotels: readonly BenchHotel[]): Promise<void> {
  await legacy.query(
    `INSERT INTO htl_property (prop_cd, prop_nm, mgmt_typ, crncy_cd)
     SELECT code, 'Bench hotel ' || code, mgmt, 'EUR' FROM unnest($1::text[], $2::text[]) AS h(code, mgmt)`,
    [hotels.map((hotel) => hotel.code), hotels.map((hotel) => hotel.mgmt)],
  );
  await cloud.query(
    `INSERT INTO properties (id, external_code, display_name, timezone)
     SELECT id, lower(code), 'Bench hotel ' || code, 'Europe/Berlin' FROM unnest($1::uuid[], $2::text[]) AS p(id, code)`,
    [hotels.map((hotel) => hotel.cloudPropertyId), hotels.map((hotel) => hotel.code)],
  );
}

/** One multi-row INSERT per thousand rooms: a seeding transaction, not part of any measurement. */
export async function insertLegacyRooms(legacy: pg.Pool, rooms: readonly BenchRoom[]): Promise<void> {
  for (let start = 0; start < rooms.length; start += chunk) {
    const part = rooms.slice(start, start + chunk);
    await legacy.query(
      `INSERT INTO htl_room_inv (prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd, lst_upd_usr)
       SELECT prop, nbr, typ, rate, qty, CASE WHEN open THEN 'A' ELSE 'X' END, 'bench-seed'
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bool[]) AS r(prop, nbr, typ, rate, qty, open)`,
      [
        part.map((room) => room.hotel.code),
        part.map((room) => room.code),
        part.map((room) => roomTypes[room.values.legacy.roomType]?.legacy ?? 'DBL'),
        part.map((room) => room.values.legacy.rateMinor),
        part.map((room) => room.values.legacy.availability),
        part.map((room) => room.values.legacy.open),
      ],
    );
  }
}

export async function insertCloudRooms(cloud: pg.Pool, rooms: readonly BenchRoom[]): Promise<void> {
  for (let start = 0; start < rooms.length; start += chunk) {
    const part = rooms.slice(start, start + chunk);
    await cloud.query(
      `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
       SELECT id, prop, lower(code), typ, rate::numeric, 'EUR', qty, open
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bool[]) AS r(id, prop, code, typ, rate, qty, open)`,
      [
        part.map((room) => room.cloudId),
        part.map((room) => room.hotel.cloudPropertyId),
        part.map((room) => room.code),
        part.map((room) => roomTypes[room.values.cloud.roomType]?.cloud ?? 'double'),
        part.map((room) => majorRate(room.values.cloud.rateMinor)),
        part.map((room) => room.values.cloud.availability),
        part.map((room) => room.values.cloud.open),
      ],
    );
  }
}
