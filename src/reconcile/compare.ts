import type { SourceName } from '../domain/room.js';
import type { LegacyHotel, SourceRoomValues } from '../mapping/change.js';
import type { SourceRecord } from '../merge/field-values.js';

/**
 * The pure half of `room-sync reconcile`: what one room's row in a source's snapshot says,
 * against what room_sources stores for that room and source. No I/O: the classification is
 * unit- and property-tested on its own (test/unit/reconcile-compare.test.ts).
 */

/** One row of the source's room table as the snapshot shows it, mapped with the project's mapping. */
export type SnapshotRoomRow =
  /** `values: null`: the row says the room has left (legacy stat_cd 'D'). */
  | { readonly kind: 'row'; readonly values: SourceRoomValues | null }
  /** The pipeline dead-letters such a row and keeps the room's last values: not comparable. */
  | { readonly kind: 'unmappable'; readonly reason: string };

/** A legacy property as the snapshot shows it; null when the source has no such property. */
export interface SnapshotHotel {
  readonly mgmtType: string;
  readonly currency: string;
}

export interface RoomComparisonInput {
  readonly source: SourceName;
  /** The snapshot's position: its slot's consistent point, ordinal 0. */
  readonly snapshotPosition: string;
  /** The source's rows with this room's key (normally one; none when the source has no such row). */
  readonly rows: readonly SnapshotRoomRow[];
  /** room_sources' record for this source; null when it has none (or no room_sources row at all). */
  readonly stored: SourceRecord | null;
  /**
   * Legacy only: the room's hotel property in the snapshot (null: legacy has no such property) and
   * the copy of it the room's merge last used (room_sources.legacy_hotel). Undefined: not compared.
   */
  readonly hotel?: { readonly snapshot: SnapshotHotel | null; readonly stored: LegacyHotel | null };
}

/**
 * - `equal`: the same values (or both say the room is not there);
 * - `newer`: room_sources already holds a change past the snapshot: not drift;
 * - `drift`: present on both sides, different, and room_sources is not newer;
 * - `missing`: in the source, absent (or left) in room_sources;
 * - `extra`: present in room_sources, absent (or left) in the source;
 * - `unmappable`: the source's row cannot be mapped (it is dead-lettered, not applied);
 * - `absent`: neither side has the room in this source: nothing to compare.
 */
export type Verdict = 'equal' | 'newer' | 'drift' | 'missing' | 'extra' | 'unmappable' | 'absent';

export const differingVerdicts: ReadonlySet<Verdict> = new Set(['drift', 'missing', 'extra']);

/** One field that differs: the source's value (as the snapshot maps it) and room_sources'. */
export interface FieldDifference {
  readonly field: string;
  readonly source: unknown;
  readonly stored: unknown;
}

export interface RoomComparison {
  readonly verdict: Verdict;
  /** The room row's part alone (before the hotel's is folded in). */
  readonly roomVerdict: Verdict;
  /** Legacy: the property's part (class and currency); `absent` where not compared. */
  readonly hotelVerdict: Verdict;
  readonly differences: readonly FieldDifference[];
  /** What a repair delivers for the room row: the snapshot's values, or null (the room is not in the source). */
  readonly repairValues: SourceRoomValues | null;
}

const roomFields = [
  ['room_type', 'roomType'],
  ['rate_minor', 'rateMinor'],
  ['currency', 'currency'],
  ['availability', 'availability'],
  ['status', 'status'],
] as const satisfies readonly (readonly [string, keyof SourceRoomValues])[];

export function valueDifferences(source: SourceRoomValues | null, stored: SourceRoomValues | null): FieldDifference[] {
  if (source === null && stored === null) return [];
  if (source === null || stored === null) return [{ field: 'presence', source: source === null ? 'absent' : 'present', stored: stored === null ? 'absent' : 'present' }];
  return roomFields.filter(([, key]) => source[key] !== stored[key]).map(([field, key]) => ({ field, source: source[key], stored: stored[key] }));
}

/** Newer: room_sources holds a position past the snapshot's (fixed-width positions order as strings). */
function isPast(position: string | undefined, snapshotPosition: string): boolean {
  return position !== undefined && position > snapshotPosition;
}

function compareRoomRow(input: RoomComparisonInput): { verdict: Verdict; differences: FieldDifference[]; repairValues: SourceRoomValues | null } {
  const mapped = input.rows.filter((row): row is Extract<SnapshotRoomRow, { kind: 'row' }> => row.kind === 'row');
  const storedValues = input.stored?.values ?? null;
  if (isPast(input.stored?.position, input.snapshotPosition)) return { verdict: 'newer', differences: [], repairValues: null };
  if (input.rows.length > 0 && mapped.length === 0) return { verdict: 'unmappable', differences: [], repairValues: storedValues };
  // Several source rows may normalize to one key: any of them agreeing is agreement.
  const candidates = mapped.length === 0 ? [null] : mapped.map((row) => row.values);
  const agreeing = candidates.find((values) => valueDifferences(values, storedValues).length === 0);
  if (agreeing !== undefined) return { verdict: agreeing === null ? 'absent' : 'equal', differences: [], repairValues: agreeing };
  const sourceValues = candidates[0] ?? null;
  if (storedValues === null) return { verdict: 'missing', differences: valueDifferences(sourceValues, null), repairValues: sourceValues };
  if (sourceValues === null) return { verdict: 'extra', differences: valueDifferences(null, storedValues), repairValues: null };
  return { verdict: 'drift', differences: valueDifferences(sourceValues, storedValues), repairValues: sourceValues };
}

/** The legacy property: class (mgmt_typ) and currency, against the copy the room's merge last used. */
export function compareHotel(
  snapshotPosition: string,
  hotel: { readonly snapshot: SnapshotHotel | null; readonly stored: LegacyHotel | null },
): { verdict: Verdict; differences: FieldDifference[] } {
  const stored = hotel.stored;
  if (isPast(stored?.position, snapshotPosition)) return { verdict: 'newer', differences: [] };
  const storedPresent = stored?.present === true ? stored : null;
  if (hotel.snapshot === null && storedPresent === null) return { verdict: 'absent', differences: [] };
  if (hotel.snapshot === null) return { verdict: 'extra', differences: [{ field: 'hotel', source: 'absent', stored: 'present' }] };
  if (storedPresent === null) return { verdict: 'missing', differences: [{ field: 'hotel', source: 'present', stored: 'absent' }] };
  const differences: FieldDifference[] = [];
  if (hotel.snapshot.mgmtType !== storedPresent.mgmtType) differences.push({ field: 'hotel_mgmt_typ', source: hotel.snapshot.mgmtType, stored: storedPresent.mgmtType });
  if (hotel.snapshot.currency !== storedPresent.currency) differences.push({ field: 'hotel_currency', source: hotel.snapshot.currency, stored: storedPresent.currency });
  return { verdict: differences.length === 0 ? 'equal' : 'drift', differences };
}

/** The worse of the room's and the hotel's verdicts: any difference makes the room differ. */
function combine(room: Verdict, hotel: Verdict): Verdict {
  if (differingVerdicts.has(room)) return room;
  if (differingVerdicts.has(hotel)) return 'drift';
  if (room === 'absent') return hotel === 'absent' ? 'absent' : hotel;
  return room;
}

export function compareRoom(input: RoomComparisonInput): RoomComparison {
  const room = compareRoomRow(input);
  const hotel = input.hotel === undefined ? { verdict: 'absent' as const, differences: [] } : compareHotel(input.snapshotPosition, input.hotel);
  return {
    verdict: combine(room.verdict, hotel.verdict),
    roomVerdict: room.verdict,
    hotelVerdict: hotel.verdict,
    differences: [...room.differences, ...hotel.differences],
    repairValues: room.repairValues,
  };
}

/** Per source: how many rooms fell in each class. */
export interface VerdictCounts {
  compared: number;
  equal: number;
  newer: number;
  drifted: number;
  missing: number;
  extra: number;
  unmappable: number;
}

export function emptyCounts(): VerdictCounts {
  return { compared: 0, equal: 0, newer: 0, drifted: 0, missing: 0, extra: 0, unmappable: 0 };
}

/** Counts a room's verdict; `absent` (neither side has it) is not a comparison. */
export function countVerdict(counts: VerdictCounts, verdict: Verdict): void {
  if (verdict === 'absent') return;
  counts.compared += 1;
  if (verdict === 'equal') counts.equal += 1;
  else if (verdict === 'newer') counts.newer += 1;
  else if (verdict === 'drift') counts.drifted += 1;
  else if (verdict === 'missing') counts.missing += 1;
  else if (verdict === 'extra') counts.extra += 1;
  else counts.unmappable += 1;
}
