// An independent reference of the contract's mapping and precedence, written from
// the contract alone (it does not import src/mapping or src/merge), so the
// integration tests can compute the unified view they expect from the sources' final
// table contents and compare it with what the pipeline wrote.
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { UnifiedDatabase } from '../../src/db/schema.js';

export type Source = 'legacy' | 'cloud';
export type Field = 'rate' | 'availability' | 'room_type' | 'status';
export const fields: readonly Field[] = ['rate', 'availability', 'room_type', 'status'];

/** The contract's precedence table, copied by hand: owner per class and field. */
export const owners: Readonly<Record<string, Readonly<Record<Field, Source>>>> = {
  'legacy-managed': { rate: 'legacy', availability: 'cloud', room_type: 'legacy', status: 'cloud' },
  'cloud-managed': { rate: 'cloud', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
  default: { rate: 'legacy', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
};

/** ISO 4217 exponents of the currencies the tests use; anything else is "unknown". */
const exponents: Readonly<Record<string, number>> = { EUR: 2, USD: 2, GBP: 2, CHF: 2, JPY: 0, KRW: 0, KWD: 3, BHD: 3 };

const legacyTypes: Readonly<Record<string, string>> = {
  DBL: 'double',
  KNG: 'king',
  TWN: 'twin',
  SGL: 'single',
  STE: 'suite',
  FAM: 'family',
};

export interface Rate {
  readonly rate_minor: number;
  readonly currency: string;
}
export type Value = Rate | number | string;

/** What one source says about a room: a value per field (null: none), or that the room has left it. */
export interface SourceView {
  readonly rate: Rate | null;
  readonly availability: number | null;
  readonly room_type: string | null;
  readonly status: 'open' | 'closed' | null;
}
const left: SourceView = { rate: null, availability: null, room_type: null, status: null };

export interface LegacyPropertyRow {
  prop_cd: string;
  mgmt_typ: string;
  crncy_cd: string;
}
export interface LegacyRoomRow {
  prop_cd: string;
  rm_nbr: string;
  rm_typ_cd: string | null;
  rate_amt: number | null;
  allot_qty: number | null;
  stat_cd: string;
}
export interface CloudPropertyRow {
  id: string;
  external_code: string;
}
export interface CloudRoomRow {
  id: string;
  property_id: string;
  room_code: string;
  room_type: string | null;
  nightly_rate: string | null;
  currency: string | null;
  available_count: number | null;
  is_active: boolean;
}

export interface SourceTables {
  readonly legacyProperties: readonly LegacyPropertyRow[];
  readonly legacyRooms: readonly LegacyRoomRow[];
  readonly cloudProperties: readonly CloudPropertyRow[];
  readonly cloudRooms: readonly CloudRoomRow[];
}

export async function readSourceTables(legacy: pg.Pool, cloud: pg.Pool): Promise<SourceTables> {
  const [legacyProperties, legacyRooms, cloudProperties, cloudRooms] = await Promise.all([
    legacy.query<LegacyPropertyRow>('SELECT prop_cd, mgmt_typ, crncy_cd FROM htl_property'),
    legacy.query<LegacyRoomRow>('SELECT prop_cd, rm_nbr, rm_typ_cd, rate_amt, allot_qty, stat_cd FROM htl_room_inv'),
    cloud.query<CloudPropertyRow>('SELECT id, external_code FROM properties'),
    cloud.query<CloudRoomRow>(
      'SELECT id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active FROM room_inventory',
    ),
  ]);
  return {
    legacyProperties: legacyProperties.rows,
    legacyRooms: legacyRooms.rows,
    cloudProperties: cloudProperties.rows,
    cloudRooms: cloudRooms.rows,
  };
}

const norm = (code: string) => code.trim().toUpperCase();
export const roomKey = (hotel: string, room: string) => `${hotel}/${room}`;

type Mapped<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Major units (a decimal string, as pg returns numeric) to minor units, by string arithmetic. */
export function toMinor(amount: string, currency: string): Mapped<number> {
  const exponent = exponents[currency];
  if (exponent === undefined) return { ok: false, reason: `unknown currency ${currency}` };
  // numeric's NaN (and anything else that is not a plain decimal) is no rate: refused, not Number('NaN').
  if (!/^-?\d+(?:\.\d+)?$/.test(amount.trim())) return { ok: false, reason: `not a decimal number: ${amount}` };
  const [whole = '', fraction = ''] = amount.split('.');
  const kept = fraction.replace(/0+$/, '');
  if (kept.length > exponent) return { ok: false, reason: `fraction of a minor unit: ${amount} ${currency}` };
  return { ok: true, value: Number(whole + kept.padEnd(exponent, '0')) };
}

interface LegacyHotel {
  readonly hotelClass: string;
  readonly currency: string;
}

function legacyHotels(tables: SourceTables): Map<string, LegacyHotel> {
  const hotels = new Map<string, LegacyHotel>();
  for (const property of tables.legacyProperties) {
    const currency = norm(property.crncy_cd);
    if (exponents[currency] === undefined || norm(property.prop_cd) === '') continue;
    const mgmt = norm(property.mgmt_typ);
    hotels.set(norm(property.prop_cd), {
      hotelClass: mgmt === 'L' ? 'legacy-managed' : mgmt === 'C' ? 'cloud-managed' : 'default',
      currency,
    });
  }
  return hotels;
}

export interface MappedRoom {
  readonly key: string;
  readonly hotel: string;
  readonly room: string;
  readonly view: SourceView;
}

export function mapLegacyRoom(row: LegacyRoomRow, hotels: ReadonlyMap<string, LegacyHotel>): Mapped<MappedRoom> {
  const hotel = norm(row.prop_cd);
  const room = norm(row.rm_nbr);
  if (hotel === '' || room === '') return { ok: false, reason: 'blank key' };
  const base = { key: roomKey(hotel, room), hotel, room };
  const stat = norm(row.stat_cd);
  if (stat === 'D') return { ok: true, value: { ...base, view: left } };
  if (stat !== 'A' && stat !== 'X') return { ok: false, reason: `status ${row.stat_cd}` };
  let roomType: string | null = null;
  if (row.rm_typ_cd !== null && row.rm_typ_cd.trim() !== '') {
    const mapped = legacyTypes[norm(row.rm_typ_cd)];
    if (mapped === undefined) return { ok: false, reason: `unknown room type code ${row.rm_typ_cd}` };
    roomType = mapped;
  }
  if (row.allot_qty !== null && row.allot_qty < 0) return { ok: false, reason: 'negative availability' };
  if (row.rate_amt !== null && row.rate_amt < 0) return { ok: false, reason: 'negative rate' };
  const currency = hotels.get(hotel)?.currency;
  return {
    ok: true,
    value: {
      ...base,
      view: {
        rate: row.rate_amt !== null && currency !== undefined ? { rate_minor: row.rate_amt, currency } : null,
        availability: row.allot_qty,
        room_type: roomType,
        status: stat === 'A' ? 'open' : 'closed',
      },
    },
  };
}

export function mapCloudRoom(row: CloudRoomRow, hotelOf: ReadonlyMap<string, string>): Mapped<MappedRoom> {
  const hotel = hotelOf.get(row.property_id);
  if (hotel === undefined) return { ok: false, reason: 'unknown property' };
  const room = norm(row.room_code);
  if (hotel === '' || room === '') return { ok: false, reason: 'blank key' };
  const currency = row.currency === null ? null : norm(row.currency);
  if (currency !== null && exponents[currency] === undefined) return { ok: false, reason: `unknown currency ${currency}` };
  let rate: Rate | null = null;
  if (row.nightly_rate !== null) {
    if (currency === null) return { ok: false, reason: 'rate without currency' };
    const minor = toMinor(row.nightly_rate, currency);
    if (!minor.ok) return minor;
    rate = { rate_minor: minor.value, currency };
  }
  if (row.available_count !== null && row.available_count < 0) return { ok: false, reason: 'negative availability' };
  return {
    ok: true,
    value: {
      key: roomKey(hotel, room),
      hotel,
      room,
      view: { rate, availability: row.available_count, room_type: row.room_type, status: row.is_active ? 'open' : 'closed' },
    },
  };
}

/** The reader-facing columns of one unified row, in the types the tests compare. */
export interface ExpectedRoom {
  hotel_code: string;
  room_code: string;
  hotel_class: string;
  room_type: string | null;
  rate_minor: number | null;
  currency: string | null;
  availability: number | null;
  status: 'open' | 'closed' | 'removed';
  rate_source: Source;
  availability_source: Source;
  room_type_source: Source;
  status_source: Source;
  policy_version: string;
}

export interface ReferenceRoom {
  readonly expected: ExpectedRoom;
  readonly legacy: SourceView;
  readonly cloud: SourceView;
}

export interface Reference {
  readonly rooms: Map<string, ReferenceRoom>;
  /** Source rows the contract says cannot be mapped (they must be in dead_letters, not in unified_rooms). */
  readonly unmappable: readonly { source: Source; reason: string; row: LegacyRoomRow | CloudRoomRow }[];
}

export function sameValue(a: Value | null, b: Value | null): boolean {
  if (a === null || b === null) return a === b;
  if (typeof a === 'object' && typeof b === 'object') return a.rate_minor === b.rate_minor && a.currency === b.currency;
  return a === b;
}

/**
 * The expected unified view. `knownKeys` names rooms that once existed but may have no
 * source row any more (a cloud DELETE without a legacy row): they are expected as removed.
 */
export function computeReference(tables: SourceTables, policyVersion: string, knownKeys: Iterable<string> = []): Reference {
  const hotels = legacyHotels(tables);
  const cloudHotelOf = new Map(tables.cloudProperties.map((property) => [property.id, norm(property.external_code)]));
  const views = new Map<string, { hotel: string; room: string; legacy: SourceView; cloud: SourceView }>();
  const entry = (hotel: string, room: string) => {
    const key = roomKey(hotel, room);
    let found = views.get(key);
    if (!found) {
      found = { hotel, room, legacy: left, cloud: left };
      views.set(key, found);
    }
    return found;
  };
  const unmappable: Reference['unmappable'][number][] = [];
  for (const row of tables.legacyRooms) {
    const mapped = mapLegacyRoom(row, hotels);
    if (mapped.ok) entry(mapped.value.hotel, mapped.value.room).legacy = mapped.value.view;
    else unmappable.push({ source: 'legacy', reason: mapped.reason, row });
  }
  for (const row of tables.cloudRooms) {
    const mapped = mapCloudRoom(row, cloudHotelOf);
    if (mapped.ok) entry(mapped.value.hotel, mapped.value.room).cloud = mapped.value.view;
    else unmappable.push({ source: 'cloud', reason: mapped.reason, row });
  }
  for (const key of knownKeys) {
    const [hotel = '', room = ''] = key.split('/');
    entry(hotel, room);
  }

  const rooms = new Map<string, ReferenceRoom>();
  for (const [key, { hotel, room, legacy, cloud }] of views) {
    const hotelClass = hotels.get(hotel)?.hotelClass ?? 'default';
    const classOwners = owners[hotelClass];
    if (!classOwners) throw new Error(`no owners for ${hotelClass}`);
    const pick = <F extends Field>(field: F): { value: SourceView[F]; source: Source } => {
      const owner = classOwners[field];
      const other: Source = owner === 'legacy' ? 'cloud' : 'legacy';
      const views = { legacy, cloud };
      if (views[owner][field] !== null) return { value: views[owner][field], source: owner };
      if (views[other][field] !== null) return { value: views[other][field], source: other };
      // Neither source has a value: the contract does not say which source to name; the owner is the natural choice.
      return { value: null, source: owner };
    };
    const rate = pick('rate');
    const availability = pick('availability');
    const roomType = pick('room_type');
    const status = pick('status');
    const removed = status.value === null;
    rooms.set(key, {
      legacy,
      cloud,
      expected: {
        hotel_code: hotel,
        room_code: room,
        hotel_class: hotelClass,
        room_type: roomType.value,
        rate_minor: rate.value?.rate_minor ?? null,
        currency: rate.value?.currency ?? null,
        availability: removed ? 0 : availability.value,
        status: status.value ?? 'removed',
        rate_source: rate.source,
        availability_source: availability.source,
        room_type_source: roomType.source,
        status_source: status.source,
        policy_version: policyVersion,
      },
    });
  }
  return { rooms, unmappable };
}

/** unified_rooms as the tests compare it (reader columns, numbers as numbers). */
export async function readUnifiedRooms(db: Kysely<UnifiedDatabase>): Promise<Map<string, ExpectedRoom>> {
  const rows = await db.selectFrom('unified_rooms').selectAll().execute();
  return new Map(
    rows.map((row) => [
      roomKey(row.hotel_code, row.room_code),
      {
        hotel_code: row.hotel_code,
        room_code: row.room_code,
        hotel_class: row.hotel_class,
        room_type: row.room_type,
        rate_minor: row.rate_minor === null ? null : Number(row.rate_minor),
        currency: row.currency,
        availability: row.availability,
        status: row.status,
        rate_source: row.rate_source,
        availability_source: row.availability_source,
        room_type_source: row.room_type_source,
        status_source: row.status_source,
        policy_version: row.policy_version,
      },
    ]),
  );
}

/** Human-readable differences; empty when the two views are equal. */
export function diffViews(expected: ReadonlyMap<string, ExpectedRoom>, actual: ReadonlyMap<string, ExpectedRoom>): string[] {
  const problems: string[] = [];
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (!got) {
      problems.push(`${key}: missing, expected ${JSON.stringify(want)}`);
      continue;
    }
    for (const column of Object.keys(want) as (keyof ExpectedRoom)[]) {
      if (got[column] !== want[column]) problems.push(`${key}.${column}: expected ${JSON.stringify(want[column])}, got ${JSON.stringify(got[column])}`);
    }
  }
  for (const key of actual.keys()) if (!expected.has(key)) problems.push(`${key}: unexpected row ${JSON.stringify(actual.get(key))}`);
  return problems;
}

export function expectedView(reference: Reference): Map<string, ExpectedRoom> {
  return new Map([...reference.rooms].map(([key, room]) => [key, room.expected]));
}
