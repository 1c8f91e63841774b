// The pure parts of `room-sync audit`: the chain walk of one room, the digest format, the
// --at timestamp, and the unified-row comparison of `audit check`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainRows, type ChainedAuditContent } from '../../src/audit/chain.js';
import { buildDigest, DigestError, formatDigest, parseDigest, type RoomHead } from '../../src/audit/digest.js';
import { ExplainError, parseInstant } from '../../src/audit/explain.js';
import { RoomChain, type StoredAuditRow } from '../../src/audit/verify.js';

function content(n: number): ChainedAuditContent {
  return {
    hotel_code: 'H1',
    room_code: '101',
    field: 'rate',
    legacy_value: { rate_minor: 12900 + n, currency: 'EUR' },
    cloud_value: { rate_minor: 13500, currency: 'EUR' },
    winning_value: { rate_minor: 12900 + n, currency: 'EUR' },
    winning_source: 'legacy',
    rule: 'legacy-managed/rate: owner legacy',
    policy_version: 'p@1',
    resolved_at: `2026-12-01T10:00:0${n}.000Z`,
    hotel_class: 'legacy-managed',
    legacy_position: `0000000001000000:0000000${n}`,
    legacy_hotel_position: null,
    cloud_position: '0000000002000000:00000001',
    trigger_source: 'legacy',
    trigger_position: `0000000001000000:0000000${n}`,
  };
}

function chain(count: number, firstId = 10): StoredAuditRow[] {
  return chainRows(null, Array.from({ length: count }, (_, n) => content(n))).map((row, n) => ({ ...row, id: String(firstId + n), resolvedAtExact: true }));
}

function walk(rows: readonly StoredAuditRow[], expected: RoomHead | null = null) {
  const room = new RoomChain('H1', '101', expected);
  const breaks = rows.map((row) => room.add(row)).filter((brk) => brk !== null);
  room.finish();
  return { room, breaks };
}

test('an intact chain passes, and its head is its newest row', () => {
  const rows = chain(4);
  const { room, breaks } = walk(rows);
  assert.equal(room.problem, null);
  assert.deepEqual(breaks, []);
  assert.deepEqual(room.head(), { hotel_code: 'H1', room_code: '101', rows: 4, head: rows[3]?.row_hash, head_id: '13' });
});

test('an edited value, an edited hash or a sub-millisecond resolved_at is an altered row', () => {
  const rows = chain(4);
  const edited = rows.map((row, n) => (n === 2 ? { ...row, winning_value: { rate_minor: 1, currency: 'EUR' } } : row));
  assert.deepEqual([walk(edited).room.problem?.kind, walk(edited).room.problem?.id], ['altered', '12']);
  const rehashed = rows.map((row, n) => (n === 1 ? { ...row, prev_hash: '1'.repeat(64) } : row));
  assert.equal(walk(rehashed).room.problem?.id, '11');
  const finer = rows.map((row, n) => (n === 3 ? { ...row, resolvedAtExact: false } : row));
  assert.deepEqual([walk(finer).room.problem?.kind, walk(finer).room.problem?.id], ['altered', '13']);
});

test('a removed or reordered row is a broken link for the database to classify', () => {
  const rows = chain(4);
  const { room, breaks } = walk([rows[0], rows[2], rows[3]].filter((row) => row !== undefined));
  assert.equal(room.problem, null, 'only the database can tell a removed row from a reordered one');
  assert.deepEqual(breaks.map((brk) => [brk.row.id, brk.previousId]), [['12', '10']]);
  const swapped = [rows[0], { ...rows[2], id: '11' }, { ...rows[1], id: '12' }, rows[3]].filter((row) => row !== undefined) as StoredAuditRow[];
  assert.deepEqual(walk(swapped).breaks.map((brk) => brk.row.id), ['11'], 'the first row out of place is reported; the room stops there');
});

test('rows written before the chain pass only ahead of every chained row', () => {
  const unchained = (id: string): StoredAuditRow => ({ ...content(9), id, prev_hash: null, row_hash: null, resolvedAtExact: true });
  const rows = chain(2, 20);
  const before = walk([unchained('1'), unchained('2'), ...rows]);
  assert.equal(before.room.problem, null);
  assert.deepEqual([before.room.unchainedRows, before.room.chainedRows], [2, 2]);
  const after = walk([...rows, unchained('30')]);
  assert.deepEqual([after.room.problem?.kind, after.room.problem?.id], ['altered', '30']);
});

test('against a digest: a shorter chain is a truncated tail, another row at the head position a rewritten chain', () => {
  const rows = chain(4);
  const expected: RoomHead = { hotel_code: 'H1', room_code: '101', rows: 3, head: rows[2]?.row_hash ?? null, head_id: '12' };
  assert.equal(walk(rows, expected).room.problem, null, 'rows appended since the digest extend it');
  const truncated = walk(rows.slice(0, 2), expected).room.problem;
  assert.deepEqual([truncated?.kind, truncated?.id], ['truncated', '12']);
  const other = chainRows(null, [content(0), content(1), content(7)]).map((row, n) => ({ ...row, id: String(10 + n), resolvedAtExact: true }));
  const rewritten = walk(other, expected).room.problem;
  assert.deepEqual([rewritten?.kind, rewritten?.id], ['rewritten', '12']);
});

test('a digest round-trips, and an edited one is refused', () => {
  const heads: RoomHead[] = [
    { hotel_code: 'B', room_code: '2', rows: 3, head: 'b'.repeat(64), head_id: '9' },
    { hotel_code: 'A/1', room_code: '1', rows: 2, head: 'a'.repeat(64), head_id: '5' },
    { hotel_code: 'C', room_code: '7', rows: 1, head: null, head_id: '1' },
  ];
  const digest = buildDigest(heads, new Date('2026-12-01T10:00:00Z'));
  assert.match(digest.fingerprint, /^v1:6:[0-9a-f]{64}$/);
  assert.equal(buildDigest([...heads].reverse(), new Date()).fingerprint, digest.fingerprint, 'order does not matter');
  const text = formatDigest(digest);
  assert.deepEqual(parseDigest(text, 'digest.json'), digest);
  const edited = text.replace('"rows":3', '"rows":2');
  assert.throws(() => parseDigest(edited, 'digest.json'), DigestError);
  assert.throws(() => parseDigest('{}', 'digest.json'), DigestError);
  assert.deepEqual(parseDigest(formatDigest(buildDigest([], new Date(0))), 'empty').rooms, []);
});

test('--at takes ISO 8601 with a zone only', () => {
  assert.deepEqual(parseInstant('2026-12-01T10:00:00Z'), { sql: '2026-12-01T10:00:00Z', iso: '2026-12-01T10:00:00.000Z' });
  assert.equal(parseInstant('2026-12-01T11:00:00.123456+01:00').iso, '2026-12-01T10:00:00.123Z');
  assert.equal(parseInstant('2026-12-01T11:00:00.123456+01:00').sql, '2026-12-01T11:00:00.123456+01:00');
  assert.equal(parseInstant('2026-12-01 05:30-0430').iso, '2026-12-01T10:00:00.000Z');
  assert.throws(() => parseInstant('2026-12-01T10:00:00'), /no zone/);
  assert.throws(() => parseInstant('2026-12-01'), /no zone/);
  assert.throws(() => parseInstant('yesterday'), ExplainError);
  assert.throws(() => parseInstant('2026-02-30T10:00:00Z'), /not a valid moment/);
});
