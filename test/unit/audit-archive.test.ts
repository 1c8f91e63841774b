// The pure parts of `room-sync audit archive`: months, the retention window, the manifest, an
// archived line read back as the chain walk reads a live row, and a chain resumed from its archived head.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chainRows, type ChainedAuditContent } from '../../src/audit/chain.js';
import {
  ArchiveError,
  archivedAuditRow,
  archivedHistoryRow,
  checkArchiveBefore,
  emptyManifest,
  nextMonth,
  outsideRetention,
  parseManifest,
  parseMonth,
  withManifestFile,
  type ManifestFile,
} from '../../src/audit/archive-format.js';
import { RoomChain, type StoredAuditRow } from '../../src/audit/verify.js';

function content(n: number, room = '101'): ChainedAuditContent {
  return {
    hotel_code: 'H1',
    room_code: room,
    field: 'rate',
    legacy_value: { rate_minor: 12900 + n, currency: 'EUR' },
    cloud_value: { rate_minor: 13500, currency: 'EUR' },
    winning_value: { rate_minor: 12900 + n, currency: 'EUR' },
    winning_source: 'legacy',
    rule: 'legacy-managed/rate: owner legacy',
    policy_version: 'p@1',
    resolved_at: `2026-09-01T10:00:0${n}.${String(n * 7).padStart(3, '0')}Z`,
    hotel_class: 'legacy-managed',
    legacy_position: `0/${n}`,
    legacy_hotel_position: null,
    cloud_position: '0/2',
    trigger_source: 'legacy',
    trigger_position: `0/${n}`,
  };
}

/** A row as `audit archive` writes its line: the columns, id as a string, resolved_at in UTC with microseconds. */
function exportedLine(row: ChainedAuditContent & { prev_hash: string; row_hash: string }, id: number): string {
  return JSON.stringify({ ...row, id: String(id), resolved_at: row.resolved_at.replace('Z', '000Z') });
}

test('months: YYYY-MM only; the next month rolls over the year', () => {
  assert.equal(parseMonth('2026-09'), '2026-09');
  for (const bad of ['2026-9', '2026-13', '2026-00', '26-09', 'last-month', '2026-09-01']) assert.throws(() => parseMonth(bad), ArchiveError, bad);
  assert.equal(nextMonth('2026-12'), '2027-01');
  assert.equal(nextMonth('2026-09'), '2026-10');
});

test('archive --before must be a month that is over: not the current one, not a future one', () => {
  assert.doesNotThrow(() => checkArchiveBefore('2026-11', '2026-12'));
  assert.throws(() => checkArchiveBefore('2026-12', '2026-12'), /is the current month.*at most --before 2026-11/);
  assert.throws(() => checkArchiveBefore('2027-01', '2026-12'), /in the future/);
  assert.throws(() => checkArchiveBefore('2026-01', '2026-01'), /at most --before 2025-12/);
});

test('retention: a month is dropped only once it ends at or before now minus the window', () => {
  const now = new Date('2026-12-06T12:00:00Z');
  assert.equal(outsideRetention('2019-11', now, 7), true, 'ended 2019-12-01, before 2019-12-06');
  assert.equal(outsideRetention('2019-12', now, 7), false, 'ends 2020-01-01: part of it is inside the window');
  assert.equal(outsideRetention('2026-09', now, 1), false);
  fc.assert(
    fc.property(fc.integer({ min: 2000, max: 2100 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 30 }), (year, month, years) => {
      const text = `${year}-${String(month).padStart(2, '0')}`;
      const end = Date.UTC(month === 12 ? year + 1 : year, month === 12 ? 0 : month, 1);
      const at = new Date(Date.UTC(year + years, month - 1, 15));
      // Half-way through the month `years` later, the month's end is not yet that far back: kept.
      return !outsideRetention(text, at, years) && outsideRetention(text, new Date(end + 1 + Date.UTC(1970 + years, 0, 2)), years);
    }),
  );
});

test('an archived conflict_audit line reads back as the live row: its hash still holds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 1_000_000 }), (count, firstId) => {
      const rows = chainRows(null, Array.from({ length: count }, (_, n) => content(n)));
      const room = new RoomChain('H1', '101');
      rows.forEach((row, n) => {
        const read = archivedAuditRow(exportedLine(row, firstId + n), 'conflict_audit-2026-09.jsonl.gz', n + 1);
        assert.equal(read.archiveFile, 'conflict_audit-2026-09.jsonl.gz');
        assert.equal(read.resolved_at, row.resolved_at);
        assert.equal(room.add(read), null);
      });
      room.finish();
      return room.problem === null && room.chainedRows === count;
    }),
  );
  const [first] = chainRows(null, [content(1)]);
  assert.ok(first);
  const edited = exportedLine({ ...first, winning_source: 'cloud' }, 5);
  const room = new RoomChain('H1', '101');
  room.add(archivedAuditRow(edited, 'f.jsonl.gz', 1));
  assert.equal(room.problem?.kind, 'altered');
  assert.throws(() => archivedAuditRow('{"id": 1}', 'f.jsonl.gz', 3), /f\.jsonl\.gz line 3: not an archived row/);
  assert.throws(() => archivedAuditRow('not json', 'f.jsonl.gz', 4), /f\.jsonl\.gz line 4: not JSON/);
});

test('a live chain resumes from its archived head: the next row links to it, a row that does not is caught', () => {
  const rows = chainRows(null, [content(0), content(1), content(2)]);
  const stored = rows.map((row, n): StoredAuditRow => ({ ...row, id: String(10 + n), resolvedAtExact: true }));
  const [archived1, archived2, live] = stored;
  assert.ok(archived1 && archived2 && live);
  const start = { hotel_code: 'H1', room_code: '101', rows: 2, head: archived2.row_hash, head_id: archived2.id };
  const resumed = new RoomChain('H1', '101', null, start);
  assert.equal(resumed.add(live), null);
  resumed.finish();
  assert.equal(resumed.problem, null);
  assert.deepEqual(resumed.head(), { hotel_code: 'H1', room_code: '101', rows: 3, head: live.row_hash, head_id: live.id });

  const fromWrongHead = new RoomChain('H1', '101', null, { ...start, head: archived1.row_hash });
  const brk = fromWrongHead.add(live);
  assert.equal(brk?.previousId, archived2.id, 'a link that does not hold, for the caller to classify');

  // A digest taken when the archived head was the room's head.
  const digestHead = { ...start };
  assert.equal(new RoomChain('H1', '101', digestHead, start).problem, null);
  assert.equal(new RoomChain('H1', '101', { ...digestHead, head: archived1.row_hash }, start).problem?.kind, 'rewritten');
});

test('the manifest: parsed strictly, one entry per table and month, a re-archived month replaces its entry', () => {
  const file: ManifestFile = {
    table: 'conflict_audit',
    month: '2026-09',
    file: 'conflict_audit-2026-09.jsonl.gz',
    rows: 3,
    bytes: 200,
    sha256: 'a'.repeat(64),
    min_id: '1',
    max_id: '3',
    partition: 'conflict_audit_p202609',
    detached_as: 'audit_archive.conflict_audit_p202609',
    archived_at: '2026-12-06T00:00:00.000Z',
    tool_version: '0.1.0',
    heads: [{ hotel_code: 'H1', room_code: '101', rows: 3, head_id: '3', head: 'b'.repeat(64) }],
  };
  const at = new Date('2026-12-06T00:00:00Z');
  const history: ManifestFile = { ...file, table: 'unified_field_history', file: 'unified_field_history-2026-08.jsonl.gz', month: '2026-08' };
  delete (history as { heads?: unknown }).heads;
  let manifest = withManifestFile(withManifestFile(emptyManifest('db', '0.1.0', at), file, '0.1.0', at), history, '0.1.0', at);
  assert.deepEqual(manifest.files.map((entry) => `${entry.month} ${entry.table}`), ['2026-08 unified_field_history', '2026-09 conflict_audit']);
  manifest = withManifestFile(manifest, { ...file, rows: 4 }, '0.2.0', at);
  assert.equal(manifest.files.length, 2);
  assert.equal(manifest.tool.version, '0.2.0');
  assert.deepEqual(parseManifest(JSON.stringify(manifest), 'm'), manifest);
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, files: [file, file] }), 'm'), /m: conflict_audit 2026-09 is listed twice/);
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, files: [{ ...file, sha256: 'xyz' }] }), 'm'), /files\.0\.sha256/);
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, files: [{ ...file, file: '../etc/passwd' }] }), 'm'), /files\.0\.file/);
  assert.throws(() => parseManifest('{', 'm'), /m is not JSON/);
});

test('an archived unified_field_history line: its columns, timestamps in UTC with microseconds', () => {
  const line = JSON.stringify({
    id: '7',
    hotel_code: 'H1',
    room_code: '101',
    field: 'rate',
    value: { currency: 'EUR', rate_minor: 12000 },
    source: 'legacy',
    rule: 'r',
    policy_version: 'p@1',
    hotel_class: 'legacy-managed',
    legacy_value: { currency: 'EUR', rate_minor: 12000 },
    cloud_value: null,
    source_position: null,
    source_commit_time: null,
    applied_at: '2026-09-10T10:00:00.000000Z',
  });
  assert.equal(archivedHistoryRow(line, 'h.jsonl.gz', 1).applied_at, '2026-09-10T10:00:00.000000Z');
  assert.throws(() => archivedHistoryRow(line.replace('.000000Z', 'Z'), 'h.jsonl.gz', 2), /h\.jsonl\.gz line 2: not an archived row \(applied_at/);
});
