import { z } from 'zod';
import type { PartitionedAuditTable } from '../db/audit-partitions.js';
import { storedRow, type StoredAuditRow } from './verify.js';

/**
 * The archive folder `room-sync audit archive` writes and `audit verify|explain --archive`
 * read: one gzip'd JSON Lines file per table and month (`conflict_audit-2026-09.jsonl.gz`),
 * rows in id order, each line the row's columns as JSON (ids as strings, timestamps ISO 8601
 * in UTC with microseconds), and manifest.json describing every file: table, month, rows,
 * sha256 of the file, id range and, for conflict_audit, each room's chain head at the end of
 * the month. Pure: formats, parsing and the calendar rules; the I/O is in archive.ts.
 */
export const archiveFormat = 'room-sync audit archive v1';
export const manifestName = 'manifest.json';

/** Input the archive commands cannot work with (a month, a folder, a manifest, a file): exit 2. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}

const monthPattern = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** `YYYY-MM`, checked. */
export function parseMonth(text: string, what = '--before'): string {
  const trimmed = text.trim();
  if (!monthPattern.test(trimmed)) throw new ArchiveError(`${what} ${JSON.stringify(text)} is not a month: give YYYY-MM, e.g. 2026-09`);
  return trimmed;
}

/** The month after `month` (`YYYY-MM`). */
export function nextMonth(month: string): string {
  const [year = 0, number = 1] = month.split('-').map(Number);
  return number === 12 ? `${year + 1}-01` : `${year}-${String(number + 1).padStart(2, '0')}`;
}

/** The `YYYY-MM` (UTC) of a moment. */
export function monthOf(moment: Date): string {
  return moment.toISOString().slice(0, 7);
}

/** `--before MONTH` archives months strictly before it, all of them over: MONTH must be before the current one. */
export function checkArchiveBefore(before: string, currentMonth: string): void {
  if (before > currentMonth) throw new ArchiveError(`--before ${before} is in the future (this is ${currentMonth}): only months that are over can be archived`);
  if (before === currentMonth) {
    throw new ArchiveError(`--before ${before} is the current month: its rows are still being written; give an earlier month (at most --before ${currentMonthMinusOne(currentMonth)})`);
  }
}

function currentMonthMinusOne(month: string): string {
  const [year = 0, number = 1] = month.split('-').map(Number);
  return number === 1 ? `${year - 1}-12` : `${year}-${String(number - 1).padStart(2, '0')}`;
}

/**
 * Whether a month lies wholly outside the retention window: its end (the next month's first
 * instant, UTC) at or before `now` minus `years`. Only such months' detached tables are dropped.
 */
export function outsideRetention(month: string, now: Date, years: number): boolean {
  const [year = 0, number = 1] = nextMonth(month).split('-').map(Number);
  const end = Date.UTC(year, number - 1, 1);
  const windowStart = new Date(now.getTime());
  windowStart.setUTCFullYear(windowStart.getUTCFullYear() - years);
  return end <= windowStart.getTime();
}

export function archiveFileName(table: PartitionedAuditTable, month: string): string {
  return `${table}-${month}.jsonl.gz`;
}

const roomHeadSchema = z.object({
  hotel_code: z.string(),
  room_code: z.string(),
  /** The room's rows in that month. */
  rows: z.number().int().min(1),
  head_id: z.string().regex(/^\d+$/),
  head: z.string().nullable(),
});

const manifestFileSchema = z.object({
  table: z.enum(['conflict_audit', 'unified_field_history']),
  month: z.string().regex(monthPattern),
  file: z.string().regex(/^[\w.-]+\.jsonl\.gz$/),
  rows: z.number().int().min(0),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  min_id: z.string().regex(/^\d+$/).nullable(),
  max_id: z.string().regex(/^\d+$/).nullable(),
  partition: z.string(),
  detached_as: z.string(),
  archived_at: z.string(),
  tool_version: z.string(),
  /** conflict_audit: each room's chain head at the end of the month. */
  heads: z.array(roomHeadSchema).optional(),
});

const manifestSchema = z.object({
  format: z.literal(archiveFormat),
  tool: z.object({ name: z.literal('room-sync'), version: z.string() }),
  database: z.string(),
  updated_at: z.string(),
  files: z.array(manifestFileSchema),
});

export type ArchivedRoomHead = z.infer<typeof roomHeadSchema>;
export type ManifestFile = z.infer<typeof manifestFileSchema>;
export type ArchiveManifest = z.infer<typeof manifestSchema>;

export function emptyManifest(database: string, version: string, at: Date): ArchiveManifest {
  return { format: archiveFormat, tool: { name: 'room-sync', version }, database, updated_at: at.toISOString(), files: [] };
}

/** The manifest with `file` added (replacing an earlier entry of the same table and month), files by month then table. */
export function withManifestFile(manifest: ArchiveManifest, file: ManifestFile, version: string, at: Date): ArchiveManifest {
  const files = [...manifest.files.filter((entry) => entry.table !== file.table || entry.month !== file.month), file].sort((a, b) =>
    a.month === b.month ? (a.table < b.table ? -1 : 1) : a.month < b.month ? -1 : 1,
  );
  return { ...manifest, tool: { name: 'room-sync', version }, updated_at: at.toISOString(), files };
}

export function parseManifest(json: string, origin: string): ArchiveManifest {
  let content: unknown;
  try {
    content = JSON.parse(json);
  } catch (error) {
    throw new ArchiveError(`${origin} is not JSON: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(content);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new ArchiveError(`${origin} is not an audit archive manifest (${archiveFormat}): ${problems.join('; ')}`);
  }
  const seen = new Set<string>();
  for (const file of parsed.data.files) {
    const key = `${file.table} ${file.month}`;
    if (seen.has(key)) throw new ArchiveError(`${origin}: ${key} is listed twice`);
    seen.add(key);
  }
  return parsed.data;
}

const text = z.string();
const nullableText = z.string().nullable();
/** Timestamps in archive lines: UTC, microseconds, `Z`. */
const archivedInstant = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);

const archivedAuditLine = z.object({
  id: z.string().regex(/^\d+$/),
  hotel_code: text,
  room_code: text,
  field: text,
  legacy_value: z.unknown(),
  cloud_value: z.unknown(),
  winning_value: z.unknown(),
  winning_source: text,
  rule: text,
  policy_version: text,
  resolved_at: archivedInstant,
  hotel_class: text,
  legacy_position: nullableText,
  legacy_hotel_position: nullableText,
  cloud_position: nullableText,
  trigger_source: text,
  trigger_position: text,
  prev_hash: nullableText,
  row_hash: nullableText,
});

const archivedHistoryLine = z.object({
  id: z.string().regex(/^\d+$/),
  hotel_code: text,
  room_code: text,
  field: z.enum(['rate', 'availability', 'room_type', 'status']),
  value: z.unknown(),
  source: z.enum(['legacy', 'cloud']).nullable(),
  rule: text,
  policy_version: text,
  hotel_class: text,
  legacy_value: z.unknown(),
  cloud_value: z.unknown(),
  source_position: nullableText,
  source_commit_time: archivedInstant.nullable(),
  applied_at: archivedInstant,
});

export type ArchivedHistoryRow = z.infer<typeof archivedHistoryLine>;
export type ArchivedAuditLine = z.infer<typeof archivedAuditLine>;

function parseLine<T>(schema: z.ZodType<T>, line: string, where: string): T {
  let content: unknown;
  try {
    content = JSON.parse(line);
  } catch (error) {
    throw new ArchiveError(`${where}: not JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(content);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ArchiveError(`${where}: not an archived row (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data;
}

/** A conflict_audit line as the chain walk reads a live row. */
export function archivedAuditRow(line: string, file: string, lineNumber: number): StoredAuditRow {
  const row = parseLine(archivedAuditLine, line, `${file} line ${lineNumber}`);
  const { resolved_at: resolvedAt, ...rest } = row;
  return { ...storedRow({ ...rest, resolved_at_us: resolvedAt.slice(0, -1) }), archiveFile: file };
}

export function archivedAuditLineOf(line: string, file: string, lineNumber: number): ArchivedAuditLine {
  return parseLine(archivedAuditLine, line, `${file} line ${lineNumber}`);
}

export function archivedHistoryRow(line: string, file: string, lineNumber: number): ArchivedHistoryRow {
  return parseLine(archivedHistoryLine, line, `${file} line ${lineNumber}`);
}
