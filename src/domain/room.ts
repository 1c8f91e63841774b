/** The two systems that feed the unified view. */
export const sourceNames = ['legacy', 'cloud'] as const;
export type SourceName = (typeof sourceNames)[number];

export function otherSource(source: SourceName): SourceName {
  return source === 'legacy' ? 'cloud' : 'legacy';
}

/** The four unified fields that precedence decides; `rate` is the group rate_minor + currency. */
export const fieldNames = ['rate', 'availability', 'room_type', 'status'] as const;
export type FieldName = (typeof fieldNames)[number];

export interface RoomKey {
  readonly hotelCode: string;
  readonly roomCode: string;
}

/** Contract: upper(trim(code)); both sources' keys normalize the same way. */
export function normalizeCode(raw: string): string {
  return raw.trim().toUpperCase();
}

export function roomKeyText(room: RoomKey): string {
  return `${room.hotelCode}/${room.roomCode}`;
}

export type RoomStatus = 'open' | 'closed';
export type UnifiedStatus = RoomStatus | 'removed';

export interface Rate {
  readonly rateMinor: number;
  readonly currency: string;
}
