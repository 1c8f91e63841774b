import { z } from 'zod';
import { sourceNames } from '../domain/room.js';

const code = z.string().min(1);

/** One source's view of a room, already in unified terms. Legacy leaves `currency` null: it lives on the property. */
export const sourceRoomValuesSchema = z.object({
  roomType: z.string().nullable(),
  rateMinor: z.number().int().nonnegative().nullable(),
  currency: z.string().length(3).nullable(),
  availability: z.number().int().nonnegative().nullable(),
  status: z.enum(['open', 'closed']),
});
export type SourceRoomValues = z.infer<typeof sourceRoomValuesSchema>;

/** A room row changed in one source; `values: null` means the room has left that source. */
export const roomChangeSchema = z.object({
  kind: z.literal('room'),
  source: z.enum(sourceNames),
  hotelCode: code,
  roomCode: code,
  position: z.string().min(1),
  commitTime: z.string().min(1),
  values: sourceRoomValuesSchema.nullable(),
  /** Why the change was made when it is not the stream's (`reconcile repair: drift`); the field history's rule names it. */
  reason: z.string().min(1).optional(),
});
export type RoomChange = z.infer<typeof roomChangeSchema>;

/**
 * The legacy property of the room's hotel changed (class or currency). The new values
 * travel through the legacy hotel table, not the signal, so every room of the hotel
 * reads one consistent copy.
 */
export const legacyHotelChangeSchema = z.object({
  kind: z.literal('legacy-hotel'),
  source: z.literal('legacy'),
  hotelCode: code,
  roomCode: code,
  position: z.string().min(1),
  commitTime: z.string().min(1),
});
export type LegacyHotelChange = z.infer<typeof legacyHotelChangeSchema>;

export const sourceChangeSchema = z.discriminatedUnion('kind', [roomChangeSchema, legacyHotelChangeSchema]);
export type SourceChange = z.infer<typeof sourceChangeSchema>;

/** The legacy property as the merge needs it; `present: false` once legacy deleted it. */
export const legacyHotelSchema = z.object({
  hotelCode: code,
  present: z.boolean(),
  mgmtType: z.string(),
  currency: z.string().length(3),
  position: z.string().min(1),
  commitTime: z.string().min(1),
  /** Set when a reconcile repaired the property (legacy_hotels.reason): carried into the rooms' field history. */
  reason: z.string().min(1).optional(),
});
export type LegacyHotel = z.infer<typeof legacyHotelSchema>;

export type MappingResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export function mapped<T>(value: T): MappingResult<T> {
  return { ok: true, value };
}

export function unmappable<T>(reason: string): MappingResult<T> {
  return { ok: false, reason };
}

/**
 * An integer column as pg decodes it: a number, or integer text once a partner retyped the
 * column to bigint or numeric (pg hands those over as text). Still a valid count while it is
 * a safe integer.
 */
export const sourceIntegerSchema = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number).pipe(z.number().int())]);

/**
 * A zod failure as one line for a dead letter's reason. A column the row does not have at all
 * was dropped or renamed at the source: said so, rather than "expected string, received undefined".
 */
export function describeShapeError(table: string, error: z.ZodError, row?: unknown): string {
  const columns = typeof row === 'object' && row !== null ? row : null;
  const issues = error.issues
    .map((issue) => {
      const [column] = issue.path;
      if (columns && issue.path.length === 1 && typeof column === 'string' && !Object.hasOwn(columns, column)) {
        return `${column}: column missing (dropped or renamed at the source?)`;
      }
      return `${issue.path.join('.') || 'row'}: ${issue.message}`;
    })
    .join('; ');
  return `unexpected ${table} row: ${issues}`;
}
