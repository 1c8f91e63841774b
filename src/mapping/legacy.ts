import { z } from 'zod';
import { isKnownCurrency } from '../domain/currency.js';
import { normalizeCode, type RoomKey } from '../domain/room.js';
import { describeShapeError, mapped, sourceIntegerSchema, unmappable, type MappingResult, type SourceRoomValues } from './change.js';

/** `htl_property` as pg decodes it (snapshot and pgoutput alike). */
export const legacyPropertyRowSchema = z.looseObject({
  prop_cd: z.string(),
  mgmt_typ: z.string(),
  crncy_cd: z.string(),
});
export type LegacyPropertyRow = z.infer<typeof legacyPropertyRowSchema>;

/** `htl_room_inv` as pg decodes it. */
export const legacyRoomRowSchema = z.looseObject({
  prop_cd: z.string(),
  rm_nbr: z.string(),
  rm_typ_cd: z.string().nullable(),
  rate_amt: sourceIntegerSchema.nullable(),
  allot_qty: sourceIntegerSchema.nullable(),
  stat_cd: z.string(),
});
export type LegacyRoomRow = z.infer<typeof legacyRoomRowSchema>;

/** The columns that key a room row: all a delete's old row needs to map. */
const legacyRoomKeySchema = legacyRoomRowSchema.pick({ prop_cd: true, rm_nbr: true });

export const legacyRoomTypes: Readonly<Record<string, string>> = {
  DBL: 'double',
  KNG: 'king',
  TWN: 'twin',
  SGL: 'single',
  STE: 'suite',
  FAM: 'family',
};

export interface LegacyPropertyValues {
  readonly hotelCode: string;
  readonly mgmtType: string;
  readonly currency: string;
}


export function legacyHotelCode(propCd: string): MappingResult<string> {
  const hotelCode = normalizeCode(propCd);
  return hotelCode === '' ? unmappable('blank hotel key (prop_cd)') : mapped(hotelCode);
}

export function mapLegacyRoomKey(row: unknown): MappingResult<RoomKey> {
  const parsed = legacyRoomKeySchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('htl_room_inv', parsed.error, row));
  const hotel = legacyHotelCode(parsed.data.prop_cd);
  if (!hotel.ok) return unmappable(hotel.reason);
  const roomCode = normalizeCode(parsed.data.rm_nbr);
  if (roomCode === '') return unmappable('blank room key (rm_nbr)');
  return mapped({ hotelCode: hotel.value, roomCode });
}

export function mapLegacyProperty(row: unknown): MappingResult<LegacyPropertyValues> {
  const parsed = legacyPropertyRowSchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('htl_property', parsed.error, row));
  const hotel = legacyHotelCode(parsed.data.prop_cd);
  if (!hotel.ok) return unmappable(hotel.reason);
  const currency = parsed.data.crncy_cd.trim().toUpperCase();
  if (!isKnownCurrency(currency)) return unmappable(`unknown currency ${JSON.stringify(parsed.data.crncy_cd)}`);
  return mapped({ hotelCode: hotel.value, mgmtType: parsed.data.mgmt_typ.trim().toUpperCase(), currency });
}

/**
 * Maps one room row. `null` values: the room has left legacy (stat_cd 'D').
 * The rate stays in minor units; its currency is the property's, joined at merge time.
 */
export function mapLegacyRoom(row: unknown): MappingResult<{ room: RoomKey; values: SourceRoomValues | null }> {
  const key = mapLegacyRoomKey(row);
  if (!key.ok) return unmappable(key.reason);
  const parsed = legacyRoomRowSchema.safeParse(row);
  if (!parsed.success) return unmappable(describeShapeError('htl_room_inv', parsed.error, row));
  const data = parsed.data;
  const statusCode = data.stat_cd.trim().toUpperCase();
  if (statusCode === 'D') return mapped({ room: key.value, values: null });
  if (statusCode !== 'A' && statusCode !== 'X') return unmappable(`unknown status code ${JSON.stringify(data.stat_cd)}`);

  let roomType: string | null = null;
  if (data.rm_typ_cd !== null && data.rm_typ_cd.trim() !== '') {
    const mappedType = legacyRoomTypes[data.rm_typ_cd.trim().toUpperCase()];
    if (mappedType === undefined) return unmappable(`unknown room type code ${JSON.stringify(data.rm_typ_cd)}`);
    roomType = mappedType;
  }
  if (data.rate_amt !== null && data.rate_amt < 0) return unmappable(`negative rate ${data.rate_amt}`);
  if (data.allot_qty !== null && data.allot_qty < 0) return unmappable(`negative availability ${data.allot_qty}`);

  return mapped({
    room: key.value,
    values: {
      roomType,
      rateMinor: data.rate_amt,
      currency: null,
      availability: data.allot_qty,
      status: statusCode === 'A' ? 'open' : 'closed',
    },
  });
}
