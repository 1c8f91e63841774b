import type { FieldName, SourceName } from '../domain/room.js';
import type { LegacyHotel, SourceRoomValues } from '../mapping/change.js';

/** One source's latest stored view of a room. `values: null`: the room has left that source. */
export interface SourceRecord {
  readonly position: string;
  readonly commitTime: string;
  readonly values: SourceRoomValues | null;
  /** Why this value is stored when it is not the stream's own change (a reconcile's repair). */
  readonly reason?: string | undefined;
}

/** Everything the merge reads: each source's latest value, nothing about time. */
export interface RoomSources {
  readonly legacy: SourceRecord | null;
  readonly cloud: SourceRecord | null;
  readonly legacyHotel: LegacyHotel | null;
}

export const noSources: RoomSources = { legacy: null, cloud: null, legacyHotel: null };

/** The contract's audit form: a rate is {"rate_minor", "currency"}, other fields plain scalars. */
export interface RateValue {
  readonly rate_minor: number;
  readonly currency: string;
}
export type FieldValue = RateValue | number | string;
export type FieldValues = Readonly<Record<FieldName, FieldValue | null>>;

const noValues: FieldValues = { rate: null, availability: null, room_type: null, status: null };

/** What one source says for each field, `null` where it has no value. */
export function sourceFieldValues(sources: RoomSources, source: SourceName): FieldValues {
  const values = sources[source]?.values;
  if (!values) return noValues;
  const currency = source === 'legacy' ? legacyCurrency(sources.legacyHotel) : values.currency;
  return {
    rate: values.rateMinor !== null && currency !== null ? { rate_minor: values.rateMinor, currency } : null,
    availability: values.availability,
    room_type: values.roomType,
    status: values.status,
  };
}

/** Legacy rates are in their property's currency; without the property there is no rate. */
function legacyCurrency(hotel: LegacyHotel | null): string | null {
  return hotel?.present ? hotel.currency : null;
}

export function sameFieldValue(a: FieldValue | null, b: FieldValue | null): boolean {
  if (a === null || b === null) return a === b;
  if (typeof a === 'object' && typeof b === 'object') return a.rate_minor === b.rate_minor && a.currency === b.currency;
  return a === b;
}
