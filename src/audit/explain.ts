import { sql, type Kysely } from 'kysely';
import type { UnifiedDatabase } from '../db/schema.js';
import { currencyExponent } from '../domain/currency.js';
import { fieldNames, roomKeyText, type FieldName, type RoomKey, type SourceName } from '../domain/room.js';
import type { FieldValue } from '../merge/field-values.js';
import type { ArchivedAuditLine, ArchivedHistoryRow } from './archive-format.js';

/**
 * `room-sync audit explain`: what unified_rooms held for a room at a moment, rebuilt from
 * unified_field_history (append-only: one row each time a field's value, provenance or
 * either source value moved). For each field the newest history row applied at or before
 * the moment; `since` is when that value became the unified one: the applied_at of the first
 * row of the run of rows with that same value, up to the moment.
 */

/** The contract's form of one field. */
export interface ExplainedField {
  readonly value: FieldValue | null;
  readonly source: SourceName | null;
  readonly rule: string | null;
  readonly since: string | null;
  readonly legacy_value: FieldValue | null;
  readonly cloud_value: FieldValue | null;
}

/** The contract's JSON of `audit explain --json`, keys in its order. */
export interface RoomExplanation {
  readonly hotel_code: string;
  readonly room_code: string;
  readonly at: string;
  readonly hotel_class: string | null;
  readonly policy_version: string | null;
  readonly fields: Readonly<Record<FieldName, ExplainedField>>;
}

/** The room is not known, or not at that moment, or the moment is not one: exit 2. */
export class ExplainError extends Error {
  override readonly name = 'ExplainError';
}

const instantPattern = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * An ISO 8601 moment with a zone (`2026-12-01T10:00:00Z`, `…+01:00`, `…+0100`); one without a
 * zone is refused, since it would mean a different moment on every machine. Returns the
 * moment for the database (microseconds kept) and as the JSON's `at` (milliseconds, UTC).
 */
export function parseInstant(text: string): { readonly sql: string; readonly iso: string } {
  const match = instantPattern.exec(text.trim());
  if (!match) {
    throw new ExplainError(
      /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?$/.test(text.trim())
        ? `--at ${JSON.stringify(text)} has no zone: give one (Z or ±HH:MM), e.g. 2026-12-01T10:00:00Z`
        : `--at ${JSON.stringify(text)} is not an ISO 8601 timestamp with a zone, e.g. 2026-12-01T10:00:00Z`,
    );
  }
  const [, date = '', hours = '', minutes = '', seconds = '00', fraction = '', zoneText = 'Z'] = match;
  const zone = /^[Zz]$/.test(zoneText) ? 'Z' : zoneText.length === 3 ? `${zoneText}:00` : zoneText.includes(':') ? zoneText : `${zoneText.slice(0, 3)}:${zoneText.slice(3)}`;
  const time = `${date}T${hours}:${minutes}:${seconds}`;
  const millis = Date.parse(`${time}.${fraction.slice(0, 3).padEnd(3, '0')}${zone}`);
  const [year, month, day] = date.split('-').map(Number);
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 0));
  const validDate = calendar.getUTCFullYear() === year && calendar.getUTCMonth() + 1 === month && calendar.getUTCDate() === day;
  if (Number.isNaN(millis) || !validDate || Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59) {
    throw new ExplainError(`--at ${JSON.stringify(text)} is not a valid moment`);
  }
  return { sql: `${time}${fraction ? `.${fraction.slice(0, 6)}` : ''}${zone}`, iso: new Date(millis).toISOString() };
}

/** A stored value in the contract's form: a rate is {"rate_minor", "currency"} in that order. */
function contractValue(value: unknown): FieldValue | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && 'rate_minor' in value && 'currency' in value) {
    return { rate_minor: Number(value.rate_minor), currency: typeof value.currency === 'string' ? value.currency : JSON.stringify(value.currency) };
  }
  if (typeof value === 'number' || typeof value === 'string') return value;
  return JSON.stringify(value);
}

interface CurrentRow {
  field: FieldName;
  id: string;
  value: unknown;
  source: SourceName | null;
  rule: string;
  policy_version: string;
  hotel_class: string;
  legacy_value: unknown;
  cloud_value: unknown;
  since: Date | null;
}

export interface ExplainOptions {
  /** The moment; unset: now (the newest history row of each field). */
  readonly at?: { readonly sql: string; readonly iso: string };
  readonly now?: () => Date;
  /** The room's rows from an archive folder (`--archive`): read as if still in unified_field_history. */
  readonly archivedHistory?: readonly ArchivedHistoryRow[];
}

/** unified_field_history, with a room's archived rows alongside when there are any. */
function historyRelation(archived: readonly ArchivedHistoryRow[] | undefined) {
  if (archived === undefined || archived.length === 0) return sql`unified_field_history`;
  return sql`(
    SELECT id, hotel_code, room_code, field, value, source, rule, policy_version, hotel_class, legacy_value, cloud_value, applied_at FROM unified_field_history
    UNION ALL
    SELECT id::bigint, hotel_code, room_code, field, coalesce(value, 'null'::jsonb), source, rule, policy_version, hotel_class,
           coalesce(legacy_value, 'null'::jsonb), coalesce(cloud_value, 'null'::jsonb), applied_at
      FROM jsonb_to_recordset(${JSON.stringify(archived)}::jsonb) AS a(
        id text, hotel_code text, room_code text, field text, value jsonb, source text, rule text, policy_version text, hotel_class text,
        legacy_value jsonb, cloud_value jsonb, applied_at timestamptz))`;
}

/** When months of the history were archived and no archive was given: where the answer may be. */
async function archiveHint(db: Kysely<UnifiedDatabase>, options: ExplainOptions): Promise<string> {
  if (options.archivedHistory !== undefined) return '';
  const { rows } = await sql<{ last: string | null }>`
    SELECT to_char(max(month), 'YYYY-MM') AS last FROM audit_archived_months WHERE table_name = 'unified_field_history'`.execute(db);
  const last = rows[0]?.last ?? null;
  return last === null ? '' : ` (the history up to ${last} is archived: add --archive DIR to read it)`;
}

export async function explainRoom(db: Kysely<UnifiedDatabase>, room: RoomKey, options: ExplainOptions = {}): Promise<RoomExplanation> {
  const key = roomKeyText(room);
  const atSql = options.at?.sql ?? null;
  const atIso = options.at?.iso ?? (options.now ?? (() => new Date()))().toISOString();
  const history = historyRelation(options.archivedHistory);
  const { rows: spans } = await sql<{ first: Date | null; rows: string }>`
    SELECT min(h.applied_at) AS first, count(*)::text AS rows FROM ${history} h
     WHERE h.hotel_code = ${room.hotelCode} AND h.room_code = ${room.roomCode}`.execute(db);
  const span = spans[0];
  if (span === undefined || Number(span.rows) === 0 || span.first === null) {
    const unified = await db.selectFrom('unified_rooms').select('hotel_code').where('hotel_code', '=', room.hotelCode).where('room_code', '=', room.roomCode).executeTakeFirst();
    throw new ExplainError(
      unified
        ? `room ${key} has no field history: its unified row was last written before unified_field_history existed${await archiveHint(db, options)}`
        : `unknown room ${key}: unified_field_history has no row for it (keys are upper case, HOTEL/ROOM)${await archiveHint(db, options)}`,
    );
  }
  const first = span.first instanceof Date ? span.first : new Date(String(span.first));
  if (options.at && Date.parse(atIso) < first.getTime()) {
    throw new ExplainError(`room ${key} did not exist yet at ${options.at.iso}: its history starts at ${first.toISOString()}${await archiveHint(db, options)}`);
  }
  const { rows } = await sql<CurrentRow>`
    SELECT f.field, cur.id::text AS id, cur.value, cur.source, cur.rule, cur.policy_version, cur.hotel_class, cur.legacy_value, cur.cloud_value,
           (SELECT run.applied_at FROM ${history} run
             WHERE run.hotel_code = ${room.hotelCode} AND run.room_code = ${room.roomCode} AND run.field = f.field
               AND run.id <= cur.id
               AND run.id > coalesce((
                 SELECT max(other.id) FROM ${history} other
                  WHERE other.hotel_code = ${room.hotelCode} AND other.room_code = ${room.roomCode} AND other.field = f.field
                    AND other.id < cur.id AND other.value IS DISTINCT FROM cur.value), 0)
             ORDER BY run.id LIMIT 1) AS since
      FROM unnest(${[...fieldNames]}::text[]) AS f(field)
      CROSS JOIN LATERAL (
        SELECT h.* FROM ${history} h
         WHERE h.hotel_code = ${room.hotelCode} AND h.room_code = ${room.roomCode} AND h.field = f.field
           AND (${atSql}::timestamptz IS NULL OR h.applied_at <= ${atSql}::timestamptz)
         ORDER BY h.id DESC LIMIT 1) cur`.execute(db);
  if (rows.length === 0) throw new ExplainError(`room ${key} did not exist yet at ${atIso}: its history starts at ${first.toISOString()}`);
  const byField = new Map(rows.map((row) => [row.field, row]));
  const newest = [...rows].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? 1 : -1))[0];
  const none: ExplainedField = { value: null, source: null, rule: null, since: null, legacy_value: null, cloud_value: null };
  const fields = Object.fromEntries(
    fieldNames.map((field) => {
      const row = byField.get(field);
      if (!row) return [field, none];
      const explained: ExplainedField = {
        value: contractValue(row.value),
        source: row.source,
        rule: row.rule,
        since: row.since === null ? null : new Date(row.since).toISOString(),
        legacy_value: contractValue(row.legacy_value),
        cloud_value: contractValue(row.cloud_value),
      };
      return [field, explained];
    }),
  ) as Record<FieldName, ExplainedField>;
  return {
    hotel_code: room.hotelCode,
    room_code: room.roomCode,
    at: atIso,
    hotel_class: newest?.hotel_class ?? null,
    policy_version: newest?.policy_version ?? null,
    fields,
  };
}

export interface AuditRowNearby {
  readonly id: string;
  readonly field: string;
  readonly legacy_value: unknown;
  readonly cloud_value: unknown;
  readonly winning_source: string;
  readonly rule: string;
  readonly policy_version: string;
  readonly resolved_at: Date;
}

/** The room's conflict_audit rows resolved up to the moment, newest first; with its archived rows (`--archive`) alongside. */
export async function auditRowsBefore(
  db: Kysely<UnifiedDatabase>,
  room: RoomKey,
  atSql: string | null,
  limit = 5,
  archived: readonly ArchivedAuditLine[] = [],
): Promise<AuditRowNearby[]> {
  const relation =
    archived.length === 0
      ? sql`conflict_audit`
      : sql`(
          SELECT id, hotel_code, room_code, field, legacy_value, cloud_value, winning_source, rule, policy_version, resolved_at FROM conflict_audit
          UNION ALL
          SELECT id::bigint, hotel_code, room_code, field, coalesce(legacy_value, 'null'::jsonb), coalesce(cloud_value, 'null'::jsonb),
                 winning_source, rule, policy_version, resolved_at
            FROM jsonb_to_recordset(${JSON.stringify(archived)}::jsonb) AS a(
              id text, hotel_code text, room_code text, field text, legacy_value jsonb, cloud_value jsonb, winning_source text, rule text,
              policy_version text, resolved_at timestamptz))`;
  const { rows } = await sql<AuditRowNearby>`
    SELECT c.id::text AS id, c.field, c.legacy_value, c.cloud_value, c.winning_source, c.rule, c.policy_version, c.resolved_at
      FROM ${relation} c
     WHERE c.hotel_code = ${room.hotelCode} AND c.room_code = ${room.roomCode}
       AND (${atSql}::timestamptz IS NULL OR c.resolved_at <= ${atSql}::timestamptz)
     ORDER BY c.id DESC LIMIT ${limit}`.execute(db);
  return rows;
}

function formatValue(value: FieldValue | null): string {
  if (value === null) return '—';
  if (typeof value === 'object') {
    const exponent = currencyExponent(value.currency);
    if (exponent === undefined || exponent === 0) return `${value.rate_minor} ${value.currency}`;
    const sign = value.rate_minor < 0 ? '-' : '';
    const digits = String(Math.abs(value.rate_minor)).padStart(exponent + 1, '0');
    return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)} ${value.currency}`;
  }
  return String(value);
}

/** The readable report: the row as it stood, each field's provenance, and the audit rows just before. */
export function formatExplanation(explanation: RoomExplanation, audit: readonly AuditRowNearby[]): string {
  const lines = [
    `room ${explanation.hotel_code}/${explanation.room_code} at ${explanation.at}`,
    `  class ${explanation.hotel_class ?? '—'} · policy ${explanation.policy_version ?? '—'}`,
  ];
  for (const field of fieldNames) {
    const entry = explanation.fields[field];
    lines.push(
      `  ${field.padEnd(12)} ${formatValue(entry.value).padEnd(14)} from ${entry.source ?? '—'} since ${entry.since ?? '—'}`,
      `  ${''.padEnd(12)} ${entry.rule ?? 'no rule'} · legacy ${formatValue(entry.legacy_value)} · cloud ${formatValue(entry.cloud_value)}`,
    );
  }
  lines.push(`  audit        ${audit.length === 0 ? 'no conflicts recorded up to then' : `the ${audit.length} newest conflict(s) up to then:`}`);
  for (const row of audit) {
    const at = row.resolved_at instanceof Date ? row.resolved_at.toISOString() : String(row.resolved_at);
    lines.push(`    #${row.id} ${at} ${row.field}: legacy ${JSON.stringify(row.legacy_value)} vs cloud ${JSON.stringify(row.cloud_value)} → ${row.winning_source} (${row.rule})`);
  }
  return lines.join('\n');
}
