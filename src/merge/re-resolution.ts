import { fieldNames, type FieldName } from '../domain/room.js';
import type { Policy } from '../policy/schema.js';
import { sameFieldValue, type RoomSources } from './field-values.js';
import { resolveRoom, type FieldDecision, type ResolvedRoom } from './resolve.js';

/** How a room's unified row was last resolved: the version it carries (`unified_rooms.policy_version`). */
export interface StoredResolution {
  readonly policyVersion: string;
  /** The policy of that version, where known; an unknown one counts as resolving differently. */
  readonly policy: Policy | null;
}

/** One field whose decision a policy moves: value, source, owner or rule. */
export interface FieldResolutionChange {
  readonly field: FieldName;
  readonly before: FieldDecision;
  readonly after: FieldDecision;
}

function sameDecision(a: FieldDecision, b: FieldDecision): boolean {
  return sameFieldValue(a.value, b.value) && a.source === b.source && a.owner === b.owner && a.rule === b.rule;
}

/** The fields whose decision differs between two resolutions of the same sources. */
export function resolutionChanges(before: ResolvedRoom, after: ResolvedRoom): FieldResolutionChange[] {
  return fieldNames
    .filter((field) => !sameDecision(before.decisions[field], after.decisions[field]))
    .map((field) => ({ field, before: before.decisions[field], after: after.decisions[field] }));
}

/**
 * Whether `policy` re-resolves a room whose row was resolved under `stored`: only when the
 * versions differ and the new policy decides the room differently (its class or any field's
 * value, source, owner or rule). A room the new policy leaves as it is keeps its row, and
 * takes the new version with its next change. The re-resolution workflow picks rooms and the
 * apply audits them by this one predicate, so both agree on which rooms a policy affects.
 */
export function needsReResolution(policy: Policy, sources: RoomSources, stored: StoredResolution | null): boolean {
  if (stored === null || stored.policyVersion === policy.policyVersion) return false;
  if (stored.policy === null) return true;
  const before = resolveRoom(stored.policy, sources);
  const after = resolveRoom(policy, sources);
  return before.hotelClass !== after.hotelClass || resolutionChanges(before, after).length > 0;
}
