import { randomUUID } from 'node:crypto';
import type { SourceName } from '../src/domain/room.js';

/** The six room types in each source's spelling. */
export const roomTypes = [
  { legacy: 'DBL', cloud: 'double' },
  { legacy: 'KNG', cloud: 'king' },
  { legacy: 'TWN', cloud: 'twin' },
  { legacy: 'SGL', cloud: 'single' },
  { legacy: 'STE', cloud: 'suite' },
  { legacy: 'FAM', cloud: 'family' },
] as const;

/** One source's values for a room, as the generator last wrote them. */
export interface RoomValues {
  rateMinor: number;
  availability: number;
  /** Index into roomTypes. */
  roomType: number;
  open: boolean;
}

export interface BenchHotel {
  /** Unified code, e.g. BH0007; legacy pads it to 8, cloud writes it lower case. */
  readonly code: string;
  readonly mgmt: 'L' | 'C' | 'F';
  readonly cloudPropertyId: string;
}

export interface BenchRoom {
  readonly index: number;
  readonly hotel: BenchHotel;
  /** Unified room code, e.g. R00042; legacy writes it as is, cloud lower case. */
  readonly code: string;
  readonly cloudId: string;
  readonly values: Record<SourceName, RoomValues>;
  /** A write to this room is in flight: the generator never overlaps two (see load-generator). */
  busy: boolean;
  /** performance.now() before which the room is not written again. */
  readyAt: number;
}

export interface Catalog {
  readonly hotels: readonly BenchHotel[];
  readonly rooms: BenchRoom[];
}

const classes = ['L', 'C', 'F'] as const;

export function hotelCode(index: number): string {
  return `BH${String(index).padStart(4, '0')}`;
}

export function roomCode(index: number): string {
  return `R${String(index).padStart(5, '0')}`;
}

/** Every hotel exists in both sources, in a mix of the three management classes; all rates in EUR. */
export function buildCatalog(hotelCount: number): Catalog {
  const hotels = Array.from({ length: hotelCount }, (_, index) => ({
    code: hotelCode(index),
    mgmt: classes[index % classes.length] ?? 'F',
    cloudPropertyId: randomUUID(),
  }));
  return { hotels, rooms: [] };
}

/** Rooms start identical in both sources, so every disagreement comes from the load. */
export function addRooms(catalog: Catalog, count: number): BenchRoom[] {
  const added: BenchRoom[] = [];
  for (let n = 0; n < count; n++) {
    const index = catalog.rooms.length;
    const hotel = catalog.hotels[index % catalog.hotels.length];
    if (!hotel) throw new Error('catalog has no hotels');
    const initial = (): RoomValues => ({ rateMinor: 12_900 + (index % 10) * 100, availability: 5, roomType: index % roomTypes.length, open: true });
    const room: BenchRoom = {
      index,
      hotel,
      code: roomCode(index),
      cloudId: randomUUID(),
      values: { legacy: initial(), cloud: initial() },
      busy: false,
      readyAt: 0,
    };
    catalog.rooms.push(room);
    added.push(room);
  }
  return added;
}

export function roomKey(room: BenchRoom, source: SourceName): string {
  return `${room.hotel.code}/${room.code}/${source}`;
}
