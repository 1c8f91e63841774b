import { fieldNames, type FieldName, type SourceName } from '../domain/room.js';
import { isNewer } from '../domain/position.js';
import type { LegacyHotel, SourceChange } from '../mapping/change.js';
import type { Policy } from '../policy/schema.js';
import { sameFieldValue, sourceFieldValues, type FieldValue, type RoomSources } from './field-values.js';
import { resolveRoom, type ResolvedRoom } from './resolve.js';

/** One audit row's content: a field whose two source values are both present and differ after a change. */
export interface Conflict {
  readonly field: FieldName;
  readonly legacyValue: FieldValue;
  readonly cloudValue: FieldValue;
  readonly winningValue: FieldValue;
  readonly winningSource: SourceName;
  readonly rule: string;
  readonly hotelClass: string;
  readonly legacyPosition: string | null;
  readonly legacyHotelPosition: string | null;
  readonly cloudPosition: string | null;
  /** The change that raised it: a room row's position, or the legacy property's. */
  readonly triggerSource: SourceName;
  readonly triggerPosition: string;
}

export interface AppliedChanges {
  readonly sources: RoomSources;
  readonly resolved: ResolvedRoom;
  readonly conflicts: readonly Conflict[];
  readonly applied: number;
  /** Duplicates and changes older than what is stored: they change nothing. */
  readonly ignored: number;
}

function conflictsAfter(
  policy: Policy,
  before: RoomSources,
  after: RoomSources,
  changed: SourceName,
  triggerPosition: string,
): Conflict[] {
  const changedBefore = sourceFieldValues(before, changed);
  const changedAfter = sourceFieldValues(after, changed);
  const legacy = sourceFieldValues(after, 'legacy');
  const cloud = sourceFieldValues(after, 'cloud');
  const resolved = resolveRoom(policy, after);
  const conflicts: Conflict[] = [];
  for (const field of fieldNames) {
    if (sameFieldValue(changedBefore[field], changedAfter[field])) continue;
    const legacyValue = legacy[field];
    const cloudValue = cloud[field];
    if (legacyValue === null || cloudValue === null || sameFieldValue(legacyValue, cloudValue)) continue;
    const decision = resolved.decisions[field];
    conflicts.push({
      field,
      legacyValue,
      cloudValue,
      winningValue: decision.source === 'legacy' ? legacyValue : cloudValue,
      winningSource: decision.source,
      rule: decision.rule,
      hotelClass: resolved.hotelClass,
      legacyPosition: after.legacy?.position ?? null,
      legacyHotelPosition: after.legacyHotel?.position ?? null,
      cloudPosition: after.cloud?.position ?? null,
      triggerSource: changed,
      triggerPosition,
    });
  }
  return conflicts;
}

/**
 * Restores log order within each source while keeping the arrival order between
 * sources: signals may overtake each other, positions may not.
 */
export function orderBySourcePosition(changes: readonly SourceChange[]): SourceChange[] {
  const sorted = {
    legacy: changes.filter((change) => change.source === 'legacy').sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0)),
    cloud: changes.filter((change) => change.source === 'cloud').sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0)),
  };
  const next = { legacy: 0, cloud: 0 };
  return changes.map((change) => {
    const index = next[change.source]++;
    const ordered = sorted[change.source][index];
    if (!ordered) throw new Error('unreachable: per-source counts match');
    return ordered;
  });
}

/**
 * Folds a batch of changes into a room's stored source values, in log order per
 * source, and lists the conflicts each change raised. Pure: the activity does the I/O.
 * `currentLegacyHotel` is the legacy property as the legacy connector last recorded it.
 */
export function applyChanges(
  policy: Policy,
  stored: RoomSources,
  changes: readonly SourceChange[],
  currentLegacyHotel: LegacyHotel | null,
): AppliedChanges {
  let sources = stored;
  const conflicts: Conflict[] = [];
  let applied = 0;
  let ignored = 0;

  // The property sits in legacy's log: apply it after the batch's earlier legacy room
  // changes and before its later ones, so no audit row shows a combination legacy never had.
  let pendingHotel =
    currentLegacyHotel && isNewer(currentLegacyHotel.position, stored.legacyHotel?.position ?? null) ? currentLegacyHotel : null;
  const applyPendingHotel = (): void => {
    if (!pendingHotel) return;
    const next = { ...sources, legacyHotel: pendingHotel };
    conflicts.push(...conflictsAfter(policy, sources, next, 'legacy', pendingHotel.position));
    sources = next;
    pendingHotel = null;
  };

  for (const change of orderBySourcePosition(changes)) {
    // A property change's values were read from the hotel table (currentLegacyHotel).
    if (change.kind === 'legacy-hotel') continue;
    // `>=`, not `>`: snapshot rows all share the slot's consistent point (ordinal 0) and the
    // snapshot reads htl_property before htl_room_inv, so a property at the very same
    // position as a room precedes it. With `>` a snapshot room was merged as if its hotel
    // were unknown (class `default`), and its audit rows named the wrong class and winner.
    if (pendingHotel && change.source === 'legacy' && !isNewer(pendingHotel.position, change.position)) applyPendingHotel();
    if (!isNewer(change.position, sources[change.source]?.position ?? null)) {
      ignored += 1;
      continue;
    }
    const next = {
      ...sources,
      [change.source]: { position: change.position, commitTime: change.commitTime, values: change.values },
    };
    conflicts.push(...conflictsAfter(policy, sources, next, change.source, change.position));
    sources = next;
    applied += 1;
  }
  applyPendingHotel();

  return { sources, resolved: resolveRoom(policy, sources), conflicts, applied, ignored };
}
