import { fieldNames, type FieldName, type SourceName } from '../domain/room.js';
import { sourceFieldValues, type FieldValue, type RoomSources } from '../merge/field-values.js';
import type { ResolvedRoom } from '../merge/resolve.js';
import { withReason } from '../merge/apply-changes.js';
import { canonicalJson } from './chain.js';

/** One unified field as the booking engine saw it from `applied_at` on, with its provenance. */
export interface FieldHistoryEntry {
  readonly field: FieldName;
  readonly value: FieldValue | null;
  readonly source: SourceName | null;
  readonly rule: string;
  readonly policy_version: string;
  readonly hotel_class: string;
  readonly legacy_value: FieldValue | null;
  readonly cloud_value: FieldValue | null;
  readonly source_position: string | null;
  readonly source_commit_time: string | null;
}

/** What differs from the field's latest history row is a new row; an unchanged field writes none. */
function sameEntry(a: FieldHistoryEntry, b: FieldHistoryEntry): boolean {
  return (
    canonicalJson(a.value) === canonicalJson(b.value) &&
    a.source === b.source &&
    a.rule === b.rule &&
    a.policy_version === b.policy_version &&
    a.hotel_class === b.hotel_class &&
    canonicalJson(a.legacy_value) === canonicalJson(b.legacy_value) &&
    canonicalJson(a.cloud_value) === canonicalJson(b.cloud_value)
  );
}

/** The unified field values a resolution produced, with the source values they were chosen from. */
export function fieldEntries(resolved: ResolvedRoom, sources: RoomSources): FieldHistoryEntry[] {
  const legacy = sourceFieldValues(sources, 'legacy');
  const cloud = sourceFieldValues(sources, 'cloud');
  return fieldNames.map((field) => {
    const decision = resolved.decisions[field];
    const value = field === 'availability' ? resolved.availability : field === 'status' ? resolved.status : decision.value;
    const supplied = decision.value === null ? null : decision.source;
    const record = supplied === null ? null : sources[supplied];
    // A value a reconcile repaired says so, as does every field of a hotel whose property it repaired.
    const reasons = [...new Set([record?.reason, sources.legacyHotel?.reason].filter((reason): reason is string => reason !== undefined))];
    return {
      field,
      value,
      source: supplied,
      rule: withReason(decision.rule, reasons.length === 0 ? undefined : reasons.join('; ')),
      policy_version: resolved.policyVersion,
      hotel_class: resolved.hotelClass,
      legacy_value: legacy[field],
      cloud_value: cloud[field],
      source_position: record?.position ?? null,
      source_commit_time: record?.commitTime ?? null,
    };
  });
}

/** The entries to append: every field whose value, provenance or source values moved. */
export function changedFieldEntries(latest: ReadonlyMap<FieldName, FieldHistoryEntry>, entries: readonly FieldHistoryEntry[]): FieldHistoryEntry[] {
  return entries.filter((entry) => {
    const previous = latest.get(entry.field);
    return previous === undefined || !sameEntry(previous, entry);
  });
}
