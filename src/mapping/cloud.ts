import { z } from 'zod';
import { majorToMinorUnits } from '../domain/currency.js';
import { normalizeCode, type RoomKey } from '../domain/room.js';
import { describeShapeError, mapped, sourceIntegerSchema, unmappable, type MappingResult, type SourceRoomValues } from './change.js';

/** `properties` as pg decodes it. */
export const cloudPropertyRowSchema = z.looseObject({
  id: z.guid(),
  external_code: z.string(),
});
export type CloudPropertyRow = z.infer<typeof cloudPropertyRowSchema>;

/** `room_inventory` as pg decodes it: numeric arrives as a decimal string, never a float. */
export const cloudRoomRowSchema = z.looseObject({
  id: z.guid(),
  property_id: z.guid(),
  room_code: z.string(),
  room_type: z.string().nullable(),
  nightly_rate: z.string().nullable(),
  currency: z.string().nullable(),
  available_count: sourceIntegerSchema.nullable(),
  is_active: z.boolean(),
});
export type CloudRoomRow = z.infer<typeof cloudRoomRowSchema>;

/** The columns that key a room row: all a delete's old row, or a re-keyed row, needs to map. */
const cloudRoomKeySchema = cloudRoomRowSchema.pick({ id: true, property_id: true, room_code: true });


export function mapCloudProperty(row: unknown): MappingResult<{ propertyId: string; hotelCode: string }> {
  const parsed = cloudPropertyRowSchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('properties', parsed.error, row));
  const hotelCode = normalizeCode(parsed.data.external_code);
  if (hotelCode === '') return unmappable('blank hotel key (external_code)');
  return mapped({ propertyId: parsed.data.id, hotelCode });
}

/** Resolves a room row's key; the hotel comes from its property, looked up by the caller. */
export function mapCloudRoomKey(
  row: unknown,
  hotelCodeOf: (propertyId: string) => string | undefined,
): MappingResult<RoomKey> {
  const parsed = cloudRoomKeySchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('room_inventory', parsed.error, row));
  const hotelCode = hotelCodeOf(parsed.data.property_id);
  if (hotelCode === undefined) return unmappable(`unknown property ${parsed.data.property_id}`);
  const roomCode = normalizeCode(parsed.data.room_code);
  if (roomCode === '') return unmappable('blank room key (room_code)');
  return mapped({ hotelCode, roomCode });
}

export function mapCloudRoomValues(row: CloudRoomRow): MappingResult<SourceRoomValues> {
  let rateMinor: number | null = null;
  let currency: string | null = null;
  if (row.currency !== null) currency = row.currency.trim().toUpperCase();
  if (row.nightly_rate !== null) {
    if (currency === null) return unmappable(`rate ${row.nightly_rate} has no currency`);
    const minor = majorToMinorUnits(row.nightly_rate, currency);
    if (!minor.ok) return unmappable(minor.reason);
    if (minor.rateMinor < 0) return unmappable(`negative rate ${row.nightly_rate}`);
    rateMinor = minor.rateMinor;
  } else if (currency !== null) {
    // A currency without an amount is no rate; still refuse a code we cannot interpret.
    const check = majorToMinorUnits('0', currency);
    if (!check.ok) return unmappable(check.reason);
  }
  if (row.available_count !== null && row.available_count < 0) {
    return unmappable(`negative availability ${row.available_count}`);
  }
  return mapped({
    roomType: row.room_type,
    rateMinor,
    currency,
    availability: row.available_count,
    status: row.is_active ? 'open' : 'closed',
  });
}

export function mapCloudRoom(
  row: unknown,
  hotelCodeOf: (propertyId: string) => string | undefined,
): MappingResult<{ room: RoomKey; values: SourceRoomValues }> {
  const key = mapCloudRoomKey(row, hotelCodeOf);
  if (!key.ok) return unmappable(key.reason);
  const parsed = cloudRoomRowSchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('room_inventory', parsed.error, row));
  const values = mapCloudRoomValues(parsed.data);
  if (!values.ok) return unmappable(values.reason);
  return mapped({ room: key.value, values: values.value });
}
