import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { makePosition } from '../../src/domain/position.js';
import type { LegacyHotel, SourceRoomValues } from '../../src/mapping/change.js';
import type { SourceRecord } from '../../src/merge/field-values.js';
import { compareHotel, compareRoom, countVerdict, differingVerdicts, emptyCounts, type SnapshotRoomRow } from '../../src/reconcile/compare.js';

const snapshotPosition = makePosition('0/5000', 0);
const olderPosition = fc.integer({ min: 1, max: 0x4fff }).map((lsn) => makePosition(`0/${lsn.toString(16)}`, 1));
const newerPosition = fc.integer({ min: 0x5000, max: 0xffff }).map((lsn) => makePosition(`0/${lsn.toString(16)}`, 1));

const values: fc.Arbitrary<SourceRoomValues> = fc.record({
  roomType: fc.option(fc.constantFrom('double', 'king', 'twin')),
  rateMinor: fc.option(fc.integer({ min: 0, max: 50_000 })),
  currency: fc.option(fc.constantFrom('EUR', 'USD', 'JPY')),
  availability: fc.option(fc.integer({ min: 0, max: 20 })),
  status: fc.constantFrom('open' as const, 'closed' as const),
});

const record = (position: string, stored: SourceRoomValues | null): SourceRecord => ({ position, commitTime: '2026-12-07T00:00:00.000Z', values: stored });
const row = (mapped: SourceRoomValues | null): SnapshotRoomRow => ({ kind: 'row', values: mapped });
const hotel = (mgmtType: string, currency: string, position: string, present = true): LegacyHotel => ({
  hotelCode: 'H1',
  present,
  mgmtType,
  currency,
  position,
  commitTime: '2026-12-07T00:00:00.000Z',
});

describe('reconcile: one room, one source', () => {
  test('the same values are equal, whatever the stored position before the snapshot', () => {
    fc.assert(
      fc.property(values, olderPosition, (mapped, position) => {
        const result = compareRoom({ source: 'cloud', snapshotPosition, rows: [row(mapped)], stored: record(position, mapped) });
        assert.equal(result.verdict, 'equal');
        assert.deepEqual(result.differences, []);
      }),
    );
  });

  test('room_sources past the snapshot is newer, never drift, whatever either side says', () => {
    fc.assert(
      fc.property(fc.option(values), fc.option(values), newerPosition, (mapped, stored, position) => {
        const result = compareRoom({ source: 'legacy', snapshotPosition, rows: mapped === null ? [] : [row(mapped)], stored: record(position, stored) });
        assert.equal(result.verdict, 'newer');
      }),
    );
  });

  test('different values not newer are drift, and name exactly the fields that differ', () => {
    fc.assert(
      fc.property(values, values, olderPosition, (mapped, stored, position) => {
        fc.pre(JSON.stringify(mapped) !== JSON.stringify(stored));
        const result = compareRoom({ source: 'cloud', snapshotPosition, rows: [row(mapped)], stored: record(position, stored) });
        assert.equal(result.verdict, 'drift');
        const expected = (['roomType', 'rateMinor', 'currency', 'availability', 'status'] as const).filter((key) => mapped[key] !== stored[key]);
        assert.equal(result.differences.length, expected.length);
        assert.ok(result.differences.length > 0);
        assert.deepEqual(result.repairValues, mapped);
      }),
    );
  });

  test('in the source but absent or left in room_sources is missing; the other way round is extra', () => {
    fc.assert(
      fc.property(values, fc.option(olderPosition), fc.boolean(), (mapped, position, leftRow) => {
        const stored = position === null ? null : record(position, null);
        assert.equal(compareRoom({ source: 'cloud', snapshotPosition, rows: [row(mapped)], stored }).verdict, 'missing');
        // No row at all, or a legacy row saying the room left (stat_cd 'D').
        const rows = leftRow ? [row(null)] : [];
        const extra = compareRoom({ source: 'legacy', snapshotPosition, rows, stored: record(position ?? makePosition('0/1', 1), mapped) });
        assert.equal(extra.verdict, 'extra');
        assert.equal(extra.repairValues, null);
      }),
    );
  });

  test('neither side having the room is no comparison', () => {
    const result = compareRoom({ source: 'legacy', snapshotPosition, rows: [row(null)], stored: null });
    assert.equal(result.verdict, 'absent');
    const counts = emptyCounts();
    countVerdict(counts, result.verdict);
    assert.equal(counts.compared, 0);
  });

  test('a row the mapping refuses is unmappable (the pipeline dead-letters it), never drift', () => {
    fc.assert(
      fc.property(fc.option(values), olderPosition, (stored, position) => {
        const result = compareRoom({ source: 'cloud', snapshotPosition, rows: [{ kind: 'unmappable', reason: 'unknown currency' }], stored: record(position, stored) });
        assert.equal(result.verdict, 'unmappable');
      }),
    );
  });

  test('a repair is what makes the room compare equal: storing repairValues at the snapshot position leaves nothing differing', () => {
    fc.assert(
      fc.property(fc.option(values), fc.option(values), fc.option(olderPosition), (mapped, stored, position) => {
        const rows = mapped === null ? [] : [row(mapped)];
        const before = compareRoom({ source: 'cloud', snapshotPosition, rows, stored: position === null ? null : record(position, stored) });
        fc.pre(differingVerdicts.has(before.verdict));
        const after = compareRoom({ source: 'cloud', snapshotPosition, rows, stored: record(snapshotPosition, before.repairValues) });
        assert.ok(!differingVerdicts.has(after.verdict), `after repair: ${after.verdict}`);
      }),
    );
  });

  test('the legacy property: class and currency compared, newer skipped, absence on either side classified', () => {
    const older = makePosition('0/10', 1);
    assert.equal(compareHotel(snapshotPosition, { snapshot: { mgmtType: 'L', currency: 'EUR' }, stored: hotel('L', 'EUR', older) }).verdict, 'equal');
    const drift = compareHotel(snapshotPosition, { snapshot: { mgmtType: 'C', currency: 'GBP' }, stored: hotel('L', 'EUR', older) });
    assert.equal(drift.verdict, 'drift');
    assert.deepEqual(drift.differences.map((d) => d.field), ['hotel_mgmt_typ', 'hotel_currency']);
    assert.equal(compareHotel(snapshotPosition, { snapshot: { mgmtType: 'C', currency: 'GBP' }, stored: hotel('L', 'EUR', makePosition('0/6000', 1)) }).verdict, 'newer');
    assert.equal(compareHotel(snapshotPosition, { snapshot: null, stored: hotel('L', 'EUR', older) }).verdict, 'extra');
    assert.equal(compareHotel(snapshotPosition, { snapshot: null, stored: hotel('L', 'EUR', older, false) }).verdict, 'absent');
    assert.equal(compareHotel(snapshotPosition, { snapshot: { mgmtType: 'L', currency: 'EUR' }, stored: null }).verdict, 'missing');
  });

  test('a room equal in its row but whose hotel drifted is drift, with the hotel fields named', () => {
    const mapped: SourceRoomValues = { roomType: 'king', rateMinor: 100, currency: null, availability: 2, status: 'open' };
    const result = compareRoom({
      source: 'legacy',
      snapshotPosition,
      rows: [row(mapped)],
      stored: record(makePosition('0/10', 1), mapped),
      hotel: { snapshot: { mgmtType: 'C', currency: 'EUR' }, stored: hotel('L', 'EUR', makePosition('0/10', 1)) },
    });
    assert.equal(result.verdict, 'drift');
    assert.equal(result.roomVerdict, 'equal');
    assert.equal(result.hotelVerdict, 'drift');
    assert.deepEqual(result.differences, [{ field: 'hotel_mgmt_typ', source: 'C', stored: 'L' }]);
  });

  test('counts add up: every compared room falls in exactly one class', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.option(values), fc.option(values), fc.option(fc.oneof(olderPosition, newerPosition)))), (rooms) => {
        const counts = emptyCounts();
        for (const [mapped, stored, position] of rooms) {
          countVerdict(counts, compareRoom({ source: 'cloud', snapshotPosition, rows: mapped === null ? [] : [row(mapped)], stored: position === null ? null : record(position, stored) }).verdict);
        }
        assert.equal(counts.compared, counts.equal + counts.newer + counts.drifted + counts.missing + counts.extra + counts.unmappable);
      }),
    );
  });
});
