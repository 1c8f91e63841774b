import { fieldNames, otherSource, type FieldName, type SourceName, type UnifiedStatus } from '../domain/room.js';
import type { LegacyHotel } from '../mapping/change.js';
import type { Policy } from '../policy/schema.js';
import { sourceFieldValues, type FieldValue, type RateValue, type RoomSources } from './field-values.js';

export interface FieldDecision {
  readonly value: FieldValue | null;
  /** Where the value came from: the owner, or the other source as a fallback. */
  readonly source: SourceName;
  /** The owner under the policy, whether or not it had a value. */
  readonly owner: SourceName;
  readonly rule: string;
}

export interface ResolvedRoom {
  readonly hotelClass: string;
  readonly decisions: Readonly<Record<FieldName, FieldDecision>>;
  readonly roomType: string | null;
  readonly rate: RateValue | null;
  readonly availability: number | null;
  readonly status: UnifiedStatus;
  readonly policyVersion: string;
}

/** Contract: the class is the legacy mgmt_typ's; a hotel legacy does not have is the default class. */
export function hotelClassOf(policy: Policy, hotel: LegacyHotel | null): string {
  if (!hotel?.present) return policy.classification.otherwise;
  return policy.classification.codes[hotel.mgmtType] ?? policy.classification.otherwise;
}

function decide(policy: Policy, hotelClass: string, field: FieldName, sources: RoomSources): FieldDecision {
  const owners = policy.classes[hotelClass];
  if (!owners) throw new Error(`policy ${policy.policyVersion} has no class ${hotelClass}`);
  const owner = owners[field];
  const fallback = otherSource(owner);
  const ownerValue = sourceFieldValues(sources, owner)[field];
  const base = `${hotelClass}/${field}: owner ${owner}`;
  if (ownerValue !== null) return { value: ownerValue, source: owner, owner, rule: base };
  const fallbackValue = sourceFieldValues(sources, fallback)[field];
  if (policy.fallback === 'other-source' && fallbackValue !== null) {
    return { value: fallbackValue, source: fallback, owner, rule: `${base} has no value, fallback ${fallback}` };
  }
  return { value: null, source: owner, owner, rule: `${base} has no value, nor has ${fallback}` };
}

/**
 * The merge: a pure function of the policy and each source's latest value.
 * Time plays no part; the same inputs give the same row in any process, in any replay.
 */
export function resolveRoom(policy: Policy, sources: RoomSources): ResolvedRoom {
  const hotelClass = hotelClassOf(policy, sources.legacyHotel);
  const decisions = Object.fromEntries(
    fieldNames.map((field) => [field, decide(policy, hotelClass, field, sources)]),
  ) as Record<FieldName, FieldDecision>;
  const status = decisions.status.value;
  // Neither source has the room any more: nothing to sell, whatever a stale value says.
  const removed = status === null;
  const availability = decisions.availability.value;
  const rate = decisions.rate.value;
  return {
    hotelClass,
    decisions,
    roomType: typeof decisions.room_type.value === 'string' ? decisions.room_type.value : null,
    rate: rate !== null && typeof rate === 'object' ? rate : null,
    availability: removed ? 0 : typeof availability === 'number' ? availability : null,
    status: removed ? 'removed' : status === 'closed' ? 'closed' : 'open',
    policyVersion: policy.policyVersion,
  };
}
