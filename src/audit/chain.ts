import { createHash } from 'node:crypto';

/**
 * The per-room hash chain of conflict_audit: each row's hash covers its content and the
 * hash of the room's previous row, so an edited, removed or reordered row breaks every
 * link after it. Pure: the apply computes it before insert, `audit verify` recomputes it.
 */
export interface ChainedAuditContent {
  readonly hotel_code: string;
  readonly room_code: string;
  readonly field: string;
  readonly legacy_value: unknown;
  readonly cloud_value: unknown;
  readonly winning_value: unknown;
  readonly winning_source: string;
  readonly rule: string;
  readonly policy_version: string;
  /** ISO 8601, milliseconds, UTC (`toISOString()`). */
  readonly resolved_at: string;
  readonly hotel_class: string;
  readonly legacy_position: string | null;
  readonly legacy_hotel_position: string | null;
  readonly cloud_position: string | null;
  readonly trigger_source: string;
  readonly trigger_position: string;
}

/** The chain's first link for every room. */
export const chainGenesis = '0'.repeat(64);

/** JSON with object keys sorted at every level: jsonb reorders keys, the hash must not care. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

const contentKeys: readonly (keyof ChainedAuditContent)[] = [
  'hotel_code', 'room_code', 'field', 'legacy_value', 'cloud_value', 'winning_value', 'winning_source', 'rule', 'policy_version',
  'resolved_at', 'hotel_class', 'legacy_position', 'legacy_hotel_position', 'cloud_position', 'trigger_source', 'trigger_position',
];

export function auditRowHash(content: ChainedAuditContent, prevHash: string): string {
  const picked = Object.fromEntries(contentKeys.map((key) => [key, content[key]]));
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(picked)).digest('hex');
}

/** Hashes rows of one room in order, starting from the room's current head. */
export function chainRows<T extends ChainedAuditContent>(head: string | null, rows: readonly T[]): (T & { prev_hash: string; row_hash: string })[] {
  let prev = head ?? chainGenesis;
  return rows.map((row) => {
    const rowHash = auditRowHash(row, prev);
    const chained = { ...row, prev_hash: prev, row_hash: rowHash };
    prev = rowHash;
    return chained;
  });
}
