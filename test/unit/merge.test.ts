import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { makePosition } from '../../src/domain/position.js';
import type { LegacyHotel, SourceChange, SourceRoomValues } from '../../src/mapping/change.js';
import { applyChanges, type Conflict } from '../../src/merge/apply-changes.js';
import { noSources, type RoomSources, type SourceRecord } from '../../src/merge/field-values.js';
import { needsReResolution, resolutionChanges } from '../../src/merge/re-resolution.js';
import { resolveRoom, type ResolvedRoom } from '../../src/merge/resolve.js';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';

const policy = await loadPolicy(fileURLToPath(new URL('../../policies/default.yaml', import.meta.url)));

// ---------------------------------------------------------------- a reference of the contract, written here

type Source = 'legacy' | 'cloud';
type Field = 'rate' | 'availability' | 'room_type' | 'status';
type HotelClass = 'legacy-managed' | 'cloud-managed' | 'default';
const fields: readonly Field[] = ['rate', 'availability', 'room_type', 'status'];

/** The contract's precedence table. */
const table: Readonly<Record<HotelClass, Readonly<Record<Field, Source>>>> = {
  'legacy-managed': { rate: 'legacy', availability: 'cloud', room_type: 'legacy', status: 'cloud' },
  'cloud-managed': { rate: 'cloud', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
  default: { rate: 'legacy', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
};

interface RefRate {
  rate_minor: number;
  currency: string;
}
type RefValue = RefRate | number | string;
type RefView = Record<Field, RefValue | null>;

function refClass(hotel: LegacyHotel | null): HotelClass {
  if (hotel === null || !hotel.present) return 'default';
  if (hotel.mgmtType === 'L') return 'legacy-managed';
  if (hotel.mgmtType === 'C') return 'cloud-managed';
  return 'default';
}

/** What one source says; legacy rates are in the legacy property's currency. */
function refView(source: Source, values: SourceRoomValues | null, hotel: LegacyHotel | null): RefView {
  if (values === null) return { rate: null, availability: null, room_type: null, status: null };
  const currency = source === 'legacy' ? (hotel !== null && hotel.present ? hotel.currency : null) : values.currency;
  return {
    rate: values.rateMinor !== null && currency !== null ? { rate_minor: values.rateMinor, currency } : null,
    availability: values.availability,
    room_type: values.roomType,
    status: values.status,
  };
}

function refEqual(a: RefValue | null, b: RefValue | null): boolean {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    return a.rate_minor === b.rate_minor && a.currency === b.currency;
  }
  return a === b;
}

interface RefResolved {
  hotelClass: HotelClass;
  value: RefView;
  /** Where each value came from; null where neither source has one. */
  from: Record<Field, Source | null>;
  status: 'open' | 'closed' | 'removed';
  availability: number | null;
}

function refResolve(legacy: SourceRoomValues | null, cloud: SourceRoomValues | null, hotel: LegacyHotel | null): RefResolved {
  const hotelClass = refClass(hotel);
  const views: Record<Source, RefView> = { legacy: refView('legacy', legacy, hotel), cloud: refView('cloud', cloud, hotel) };
  const value: RefView = { rate: null, availability: null, room_type: null, status: null };
  const from: Record<Field, Source | null> = { rate: null, availability: null, room_type: null, status: null };
  for (const field of fields) {
    const owner = table[hotelClass][field];
    const other: Source = owner === 'legacy' ? 'cloud' : 'legacy';
    if (views[owner][field] !== null) {
      value[field] = views[owner][field];
      from[field] = owner;
    } else if (views[other][field] !== null) {
      value[field] = views[other][field];
      from[field] = other;
    }
  }
  const removed = value.status === null;
  return {
    hotelClass,
    value,
    from,
    status: removed ? 'removed' : value.status === 'closed' ? 'closed' : 'open',
    availability: removed ? 0 : typeof value.availability === 'number' ? value.availability : null,
  };
}

function assertMatchesReference(actual: ResolvedRoom, expected: RefResolved, label = ''): void {
  assert.equal(actual.hotelClass, expected.hotelClass, `${label} class`);
  assert.deepEqual(actual.rate, expected.value.rate, `${label} rate`);
  assert.equal(actual.roomType, expected.value.room_type, `${label} room_type`);
  assert.equal(actual.availability, expected.availability, `${label} availability`);
  assert.equal(actual.status, expected.status, `${label} status`);
  assert.equal(actual.policyVersion, policy.policyVersion, `${label} policy version`);
  for (const field of fields) {
    assert.equal(actual.decisions[field].owner, table[expected.hotelClass][field], `${label} ${field} owner`);
    const source = expected.from[field];
    if (source === null) continue;
    assert.equal(actual.decisions[field].source, source, `${label} ${field} source`);
    const owner = table[expected.hotelClass][field];
    if (source === owner) assert.doesNotMatch(actual.decisions[field].rule, /fallback/, `${label} ${field} rule`);
    else assert.match(actual.decisions[field].rule, /fallback/, `${label} ${field} rule`);
  }
}

// ---------------------------------------------------------------- builders

const hotelCode = 'BER001';
const roomCode = '101';

/** A position in a source's log; the LSN grows with `lsn`. */
function pos(lsn: number, ordinal = 1): string {
  return makePosition(`0/${lsn.toString(16).toUpperCase()}`, ordinal);
}

function values(overrides: Partial<SourceRoomValues> = {}): SourceRoomValues {
  return { roomType: null, rateMinor: null, currency: null, availability: null, status: 'open', ...overrides };
}

function record(position: string, roomValues: SourceRoomValues | null): SourceRecord {
  return { position, commitTime: '2026-11-27T10:00:00Z', values: roomValues };
}

function hotel(mgmtType: string, currency: string, position: string, present = true): LegacyHotel {
  return { hotelCode, present, mgmtType, currency, position, commitTime: '2026-11-27T09:00:00Z' };
}

function sources(legacy: SourceRecord | null, cloud: SourceRecord | null, legacyHotel: LegacyHotel | null): RoomSources {
  return { legacy, cloud, legacyHotel };
}

function roomChange(source: Source, position: string, roomValues: SourceRoomValues | null): SourceChange {
  return { kind: 'room', source, hotelCode, roomCode, position, commitTime: '2026-11-27T11:00:00Z', values: roomValues };
}

function hotelChange(position: string): SourceChange {
  return { kind: 'legacy-hotel', source: 'legacy', hotelCode, roomCode, position, commitTime: '2026-11-27T11:00:00Z' };
}

/** Everything differs between the two sources. */
const legacyFull = values({ roomType: 'double', rateMinor: 12900, availability: 4, status: 'open' });
const cloudFull = values({ roomType: 'king', rateMinor: 13500, currency: 'USD', availability: 7, status: 'closed' });

// ---------------------------------------------------------------- resolveRoom

describe('resolveRoom: owners per class', () => {
  const cases: Array<{ mgmt: string; hotelClass: HotelClass; expected: { rate: RefRate; availability: number; roomType: string; status: string; sources: Record<Field, Source> } }> = [
    {
      mgmt: 'L',
      hotelClass: 'legacy-managed',
      expected: {
        rate: { rate_minor: 12900, currency: 'EUR' },
        availability: 7,
        roomType: 'double',
        status: 'closed',
        sources: { rate: 'legacy', availability: 'cloud', room_type: 'legacy', status: 'cloud' },
      },
    },
    {
      mgmt: 'C',
      hotelClass: 'cloud-managed',
      expected: {
        rate: { rate_minor: 13500, currency: 'USD' },
        availability: 7,
        roomType: 'king',
        status: 'closed',
        sources: { rate: 'cloud', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
      },
    },
    {
      mgmt: 'F',
      hotelClass: 'default',
      expected: {
        rate: { rate_minor: 12900, currency: 'EUR' },
        availability: 7,
        roomType: 'king',
        status: 'closed',
        sources: { rate: 'legacy', availability: 'cloud', room_type: 'cloud', status: 'cloud' },
      },
    },
  ];
  for (const { mgmt, hotelClass, expected } of cases) {
    test(`${hotelClass} (mgmt_typ ${mgmt})`, () => {
      const resolved = resolveRoom(policy, sources(record(pos(1), legacyFull), record(pos(1), cloudFull), hotel(mgmt, 'EUR', pos(0))));
      assert.equal(resolved.hotelClass, hotelClass);
      assert.deepEqual(resolved.rate, expected.rate);
      assert.equal(resolved.availability, expected.availability);
      assert.equal(resolved.roomType, expected.roomType);
      assert.equal(resolved.status, expected.status);
      for (const field of fields) {
        assert.equal(resolved.decisions[field].source, expected.sources[field], field);
        assert.equal(resolved.decisions[field].owner, expected.sources[field], field);
        assert.match(resolved.decisions[field].rule, new RegExp(`${hotelClass}/${field}`), field);
        assert.doesNotMatch(resolved.decisions[field].rule, /fallback/, field);
      }
    });
  }

  test('the unified status follows the status owner: open when cloud says open', () => {
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), values({ ...legacyFull, status: 'closed' })), record(pos(1), values({ ...cloudFull, status: 'open' })), hotel('L', 'EUR', pos(0))),
    );
    assert.equal(resolved.status, 'open');
  });
});

describe('resolveRoom: hotel class', () => {
  const room = sources(record(pos(1), legacyFull), record(pos(1), cloudFull), null);
  const cases: Array<[string, LegacyHotel | null, HotelClass]> = [
    ['L', hotel('L', 'EUR', pos(0)), 'legacy-managed'],
    ['C', hotel('C', 'EUR', pos(0)), 'cloud-managed'],
    ['F (another code)', hotel('F', 'EUR', pos(0)), 'default'],
    ['blank code', hotel('', 'EUR', pos(0)), 'default'],
    ['no legacy property', null, 'default'],
    ['legacy property deleted', hotel('L', 'EUR', pos(0), false), 'default'],
  ];
  for (const [label, legacyHotel, expected] of cases) {
    test(`${label} → ${expected}`, () => {
      assert.equal(resolveRoom(policy, { ...room, legacyHotel }).hotelClass, expected);
    });
  }
});

describe('resolveRoom: fallback when the owner has no value', () => {
  test('owner field null: the other source is used and the rule says fallback', () => {
    // legacy-managed: room_type owner is legacy
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), values({ ...legacyFull, roomType: null })), record(pos(1), cloudFull), hotel('L', 'EUR', pos(0))),
    );
    assert.equal(resolved.roomType, 'king');
    assert.equal(resolved.decisions.room_type.source, 'cloud');
    assert.equal(resolved.decisions.room_type.owner, 'legacy');
    assert.match(resolved.decisions.room_type.rule, /fallback cloud/);
    // the others are untouched
    assert.equal(resolved.decisions.rate.source, 'legacy');
    assert.doesNotMatch(resolved.decisions.rate.rule, /fallback/);
  });

  test('owner availability null: legacy availability is used', () => {
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), legacyFull), record(pos(1), values({ ...cloudFull, availability: null })), hotel('C', 'EUR', pos(0))),
    );
    assert.equal(resolved.availability, 4);
    assert.equal(resolved.decisions.availability.source, 'legacy');
    assert.match(resolved.decisions.availability.rule, /fallback legacy/);
  });

  test('a zero is a value, not a missing one', () => {
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), legacyFull), record(pos(1), values({ ...cloudFull, availability: 0, rateMinor: 0 })), hotel('C', 'EUR', pos(0))),
    );
    assert.equal(resolved.availability, 0);
    assert.equal(resolved.decisions.availability.source, 'cloud');
    assert.deepEqual(resolved.rate, { rate_minor: 0, currency: 'USD' });
    assert.equal(resolved.decisions.rate.source, 'cloud');
  });

  test('owner has no row: the other source is used', () => {
    // default class: rate owner is legacy, but legacy has no row for the room
    const resolved = resolveRoom(policy, sources(null, record(pos(1), cloudFull), hotel('F', 'EUR', pos(0))));
    assert.deepEqual(resolved.rate, { rate_minor: 13500, currency: 'USD' });
    assert.equal(resolved.decisions.rate.source, 'cloud');
    assert.match(resolved.decisions.rate.rule, /fallback cloud/);
    assert.equal(resolved.status, 'closed');
  });

  test('the room has left the owner: the other source is used', () => {
    // cloud DELETE: availability and status owners (cloud) have no value any more
    const resolved = resolveRoom(policy, sources(record(pos(1), legacyFull), record(pos(2), null), hotel('L', 'EUR', pos(0))));
    assert.equal(resolved.status, 'open');
    assert.equal(resolved.decisions.status.source, 'legacy');
    assert.match(resolved.decisions.status.rule, /fallback legacy/);
    assert.equal(resolved.availability, 4);
    assert.equal(resolved.decisions.availability.source, 'legacy');
    assert.match(resolved.decisions.availability.rule, /fallback legacy/);
  });

  test('neither source has a value: no value, and no fallback claimed', () => {
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), values({ ...legacyFull, rateMinor: null })), record(pos(1), values({ ...cloudFull, rateMinor: null, currency: null })), hotel('L', 'EUR', pos(0))),
    );
    assert.equal(resolved.rate, null);
    assert.equal(resolved.decisions.rate.value, null);
    assert.doesNotMatch(resolved.decisions.rate.rule, /fallback (legacy|cloud)$/);
  });

  test('with fallback "none" the owner\'s missing value stays missing', () => {
    const strict = { ...policy, fallback: 'none' as const };
    const resolved = resolveRoom(strict, sources(null, record(pos(1), cloudFull), hotel('F', 'EUR', pos(0))));
    assert.equal(resolved.rate, null);
    assert.equal(resolved.decisions.rate.source, 'legacy');
  });
});

describe('resolveRoom: rate is one group', () => {
  test('legacy rate currency comes from the legacy property', () => {
    const room = (currency: string) => sources(record(pos(1), legacyFull), record(pos(1), cloudFull), hotel('L', currency, pos(0)));
    assert.deepEqual(resolveRoom(policy, room('EUR')).rate, { rate_minor: 12900, currency: 'EUR' });
    assert.deepEqual(resolveRoom(policy, room('JPY')).rate, { rate_minor: 12900, currency: 'JPY' });
    assert.deepEqual(resolveRoom(policy, room('BHD')).rate, { rate_minor: 12900, currency: 'BHD' });
  });

  test('a legacy rate without its property has no currency: the whole cloud rate is used', () => {
    const resolved = resolveRoom(policy, sources(record(pos(1), legacyFull), record(pos(1), cloudFull), null));
    assert.deepEqual(resolved.rate, { rate_minor: 13500, currency: 'USD' });
    assert.equal(resolved.decisions.rate.source, 'cloud');
    const deleted = resolveRoom(policy, sources(record(pos(1), legacyFull), record(pos(1), cloudFull), hotel('F', 'EUR', pos(0), false)));
    assert.deepEqual(deleted.rate, { rate_minor: 13500, currency: 'USD' });
  });

  test('never a legacy amount with a cloud currency', () => {
    // legacy has an amount but no currency (no property); cloud has a currency but no amount
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), legacyFull), record(pos(1), values({ ...cloudFull, rateMinor: null, currency: 'USD' })), null),
    );
    assert.equal(resolved.rate, null);
  });

  test('never a cloud amount with the legacy currency', () => {
    // cloud (owner in cloud-managed) has an amount without currency; legacy has a full rate
    const resolved = resolveRoom(
      policy,
      sources(record(pos(1), legacyFull), record(pos(1), values({ ...cloudFull, rateMinor: 13500, currency: null })), hotel('C', 'EUR', pos(0))),
    );
    assert.deepEqual(resolved.rate, { rate_minor: 12900, currency: 'EUR' });
    assert.equal(resolved.decisions.rate.source, 'legacy');
  });

  test('property: rate_minor and currency always come from one source', () => {
    fc.assert(
      fc.property(
        fc.option(fc.record({ rateMinor: fc.option(fc.integer({ min: 0, max: 50000 })), status: fc.constantFrom('open' as const, 'closed' as const) })),
        fc.option(fc.record({ rateMinor: fc.option(fc.integer({ min: 0, max: 50000 })), currency: fc.option(fc.constantFrom('EUR', 'USD', 'JPY')) })),
        fc.option(fc.record({ mgmtType: fc.constantFrom('L', 'C', 'F'), currency: fc.constantFrom('EUR', 'GBP', 'KWD'), present: fc.boolean() })),
        (legacy, cloud, property) => {
          const legacyHotel = property ? hotel(property.mgmtType, property.currency, pos(0), property.present) : null;
          const legacyValues = legacy ? values({ rateMinor: legacy.rateMinor, status: legacy.status }) : null;
          const cloudValues = cloud ? values({ rateMinor: cloud.rateMinor, currency: cloud.currency }) : null;
          const resolved = resolveRoom(policy, sources(record(pos(1), legacyValues), record(pos(1), cloudValues), legacyHotel));
          const legacyRate = legacy?.rateMinor != null && legacyHotel?.present ? { rate_minor: legacy.rateMinor, currency: legacyHotel.currency } : null;
          const cloudRate = cloud?.rateMinor != null && cloud.currency !== null ? { rate_minor: cloud.rateMinor, currency: cloud.currency } : null;
          if (resolved.rate === null) {
            assert.equal(legacyRate, null);
            assert.equal(cloudRate, null);
          } else if (resolved.decisions.rate.source === 'legacy') {
            assert.deepEqual(resolved.rate, legacyRate);
          } else {
            assert.deepEqual(resolved.rate, cloudRate);
          }
          assert.deepEqual(resolved.decisions.rate.value, resolved.rate);
          assertMatchesReference(resolved, refResolve(legacyValues, cloudValues, legacyHotel));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('resolveRoom: removed rooms', () => {
  test('a room that has left both sources is removed, availability 0', () => {
    const resolved = resolveRoom(policy, sources(record(pos(5), null), record(pos(6), null), hotel('L', 'EUR', pos(0))));
    assert.equal(resolved.status, 'removed');
    assert.equal(resolved.availability, 0);
    assert.equal(resolved.rate, null);
    assert.equal(resolved.roomType, null);
  });

  test('left legacy, never in cloud: removed', () => {
    const resolved = resolveRoom(policy, sources(record(pos(5), null), null, hotel('F', 'EUR', pos(0))));
    assert.equal(resolved.status, 'removed');
    assert.equal(resolved.availability, 0);
  });

  test('left one source only: not removed', () => {
    const leftCloud = resolveRoom(policy, sources(record(pos(1), legacyFull), record(pos(6), null), hotel('F', 'EUR', pos(0))));
    assert.equal(leftCloud.status, 'open');
    const leftLegacy = resolveRoom(policy, sources(record(pos(5), null), record(pos(1), cloudFull), hotel('L', 'EUR', pos(0))));
    assert.equal(leftLegacy.status, 'closed');
    assert.equal(leftLegacy.availability, 7);
    assert.deepEqual(leftLegacy.rate, { rate_minor: 13500, currency: 'USD' });
    assert.equal(leftLegacy.decisions.rate.source, 'cloud');
  });

  test('a removed room with an availability of null still shows 0', () => {
    const resolved = resolveRoom(policy, noSources);
    assert.equal(resolved.status, 'removed');
    assert.equal(resolved.availability, 0);
  });
});

describe('resolveRoom: determinism', () => {
  test('same input, deep-equal output; the input is not changed', () => {
    const input = sources(record(pos(1), legacyFull), record(pos(2), values({ ...cloudFull, roomType: null })), hotel('L', 'EUR', pos(0)));
    const copy = structuredClone(input);
    const first = resolveRoom(policy, input);
    const second = resolveRoom(policy, structuredClone(input));
    assert.deepEqual(first, second);
    assert.deepEqual(input, copy);
  });

  test('time plays no part: commit times do not change the outcome', () => {
    const a = sources(record(pos(1), legacyFull), record(pos(1), cloudFull), hotel('L', 'EUR', pos(0)));
    const b: RoomSources = {
      legacy: { ...record(pos(1), legacyFull), commitTime: '2030-01-01T00:00:00Z' },
      cloud: { ...record(pos(1), cloudFull), commitTime: '2001-01-01T00:00:00Z' },
      legacyHotel: { ...hotel('L', 'EUR', pos(0)), commitTime: '1999-01-01T00:00:00Z' },
    };
    assert.deepEqual(resolveRoom(policy, a), resolveRoom(policy, b));
  });
});

// ---------------------------------------------------------------- applyChanges

/** Both sources present and agreeing on everything: no conflict to start with. */
const agreed = values({ roomType: 'double', rateMinor: 12900, currency: null, availability: 4, status: 'open' });
const agreedCloud = values({ ...agreed, currency: 'EUR' });
function agreeingRoom(mgmt = 'L'): RoomSources {
  return sources(record(pos(10), agreed), record(pos(10), agreedCloud), hotel(mgmt, 'EUR', pos(1)));
}

function conflictFields(conflicts: readonly Conflict[]): Field[] {
  return conflicts.map((conflict) => conflict.field);
}

describe('applyChanges: conflicts', () => {
  test('a change that makes one field differ raises one conflict with both values, the winner and the rule', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 7 }))], stored.legacyHotel);
    assert.equal(outcome.conflicts.length, 1);
    const [conflict] = outcome.conflicts;
    assert.ok(conflict);
    assert.deepEqual(conflict, {
      field: 'availability',
      legacyValue: 4,
      cloudValue: 7,
      winningValue: 7,
      winningSource: 'cloud',
      rule: conflict.rule,
      hotelClass: 'legacy-managed',
      legacyPosition: pos(10),
      legacyHotelPosition: pos(1),
      cloudPosition: pos(11),
      triggerSource: 'cloud',
      triggerPosition: pos(11),
    });
    assert.match(conflict.rule, /legacy-managed\/availability: owner cloud/);
    assert.equal(outcome.resolved.availability, 7);
    assert.equal(outcome.applied, 1);
    assert.equal(outcome.ignored, 0);
  });

  test('one conflict per differing field, the winner per the owner of each', () => {
    const stored = agreeingRoom('L');
    const change = roomChange('cloud', pos(11), values({ roomType: 'king', rateMinor: 13500, currency: 'EUR', availability: 7, status: 'closed' }));
    const outcome = applyChanges(policy, stored, [change], stored.legacyHotel);
    assert.deepEqual(conflictFields(outcome.conflicts).sort(), ['availability', 'rate', 'room_type', 'status']);
    const byField = new Map(outcome.conflicts.map((conflict) => [conflict.field, conflict]));
    assert.deepEqual(byField.get('rate')?.legacyValue, { rate_minor: 12900, currency: 'EUR' });
    assert.deepEqual(byField.get('rate')?.cloudValue, { rate_minor: 13500, currency: 'EUR' });
    assert.deepEqual(byField.get('rate')?.winningValue, { rate_minor: 12900, currency: 'EUR' });
    assert.equal(byField.get('rate')?.winningSource, 'legacy');
    assert.equal(byField.get('room_type')?.winningValue, 'double');
    assert.equal(byField.get('room_type')?.winningSource, 'legacy');
    assert.equal(byField.get('availability')?.winningValue, 7);
    assert.equal(byField.get('status')?.winningValue, 'closed');
    assert.equal(byField.get('status')?.winningSource, 'cloud');
  });

  test('a rate differing only in currency is a conflict', () => {
    const stored = agreeingRoom('C');
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), values({ ...agreedCloud, currency: 'USD' }))], stored.legacyHotel);
    assert.deepEqual(conflictFields(outcome.conflicts), ['rate']);
    assert.equal(outcome.conflicts[0]?.winningSource, 'cloud');
    assert.deepEqual(outcome.conflicts[0]?.winningValue, { rate_minor: 12900, currency: 'USD' });
  });

  test('no conflict when the new value equals the other source\'s', () => {
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, availability: 9 })), hotel('L', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), agreedCloud)], stored.legacyHotel);
    assert.deepEqual(outcome.conflicts, []);
    assert.equal(outcome.applied, 1);
  });

  test('no conflict when a change repeats the same values at a new position', () => {
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, availability: 9 })), hotel('L', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 9 }))], stored.legacyHotel);
    assert.deepEqual(outcome.conflicts, []);
    assert.equal(outcome.sources.cloud?.position, pos(11));
  });

  test('no conflict for a field the change did not touch, even if it differs', () => {
    // availability already differs (4 vs 9); the change only touches room_type, to a differing value
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, availability: 9 })), hotel('L', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 9, roomType: 'suite' }))], stored.legacyHotel);
    assert.deepEqual(conflictFields(outcome.conflicts), ['room_type']);
  });

  test('no conflict when one side has no value', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(
      policy,
      stored,
      [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: null, roomType: null, rateMinor: null, currency: null }))],
      stored.legacyHotel,
    );
    assert.deepEqual(outcome.conflicts, []);
    const leaving = applyChanges(policy, stored, [roomChange('cloud', pos(11), null)], stored.legacyHotel);
    assert.deepEqual(leaving.conflicts, [], 'leaving a source is no conflict');
    const onlyCloud = sources(null, record(pos(10), agreedCloud), null);
    assert.deepEqual(applyChanges(policy, onlyCloud, [roomChange('cloud', pos(11), cloudFull)], null).conflicts, []);
  });

  test('a room coming back into a source with a differing value raises a conflict', () => {
    const stored = sources(record(pos(10), agreed), record(pos(10), null), hotel('L', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 2 }))], stored.legacyHotel);
    assert.deepEqual(conflictFields(outcome.conflicts), ['availability']);
  });

  test('every change of a batch is audited: two conflicting changes, two conflicts', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(
      policy,
      stored,
      [roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 7 })), roomChange('cloud', pos(12), values({ ...agreedCloud, availability: 8 }))],
      stored.legacyHotel,
    );
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.field, conflict.cloudValue, conflict.triggerPosition]),
      [
        ['availability', 7, pos(11)],
        ['availability', 8, pos(12)],
      ],
    );
  });

  test('a change to the legacy property\'s currency changes the legacy rate and raises a rate conflict', () => {
    const stored = agreeingRoom('L');
    const newHotel = hotel('L', 'GBP', pos(20));
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], newHotel);
    assert.deepEqual(conflictFields(outcome.conflicts), ['rate']);
    const [conflict] = outcome.conflicts;
    assert.deepEqual(conflict?.legacyValue, { rate_minor: 12900, currency: 'GBP' });
    assert.deepEqual(conflict?.cloudValue, { rate_minor: 12900, currency: 'EUR' });
    assert.equal(conflict?.winningSource, 'legacy');
    assert.equal(conflict?.triggerSource, 'legacy');
    assert.equal(conflict?.triggerPosition, pos(20));
    assert.equal(conflict?.legacyHotelPosition, pos(20));
    assert.deepEqual(outcome.resolved.rate, { rate_minor: 12900, currency: 'GBP' });
    assert.equal(outcome.sources.legacyHotel, newHotel);
  });

  test('a change of class re-resolves the room: every differing field is audited, with the new winners', () => {
    // Only room_type and availability differ; the class change moves room_type's winner, not availability's.
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, roomType: 'king', availability: 9 })), hotel('L', 'EUR', pos(1)));
    assert.equal(resolveRoom(policy, stored).roomType, 'double');
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], hotel('C', 'EUR', pos(20)));
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.field, conflict.winningSource, conflict.winningValue, conflict.hotelClass, conflict.triggerSource, conflict.triggerPosition]),
      [
        ['availability', 'cloud', 9, 'cloud-managed', 'legacy', pos(20)],
        ['room_type', 'cloud', 'king', 'cloud-managed', 'legacy', pos(20)],
      ],
    );
    assert.match(outcome.conflicts[1]?.rule ?? '', /^cloud-managed\/room_type: owner cloud$/);
    assert.equal(outcome.conflicts[0]?.legacyHotelPosition, pos(20));
    assert.equal(outcome.resolved.roomType, 'king');
    assert.equal(outcome.resolved.hotelClass, 'cloud-managed');
  });

  test('a change of class with no differing field raises no conflict', () => {
    const stored = agreeingRoom('L');
    assert.deepEqual(applyChanges(policy, stored, [hotelChange(pos(20))], hotel('C', 'EUR', pos(20))).conflicts, []);
  });

  test('a property change that keeps the class audits only what it changed', () => {
    // mgmt_typ F and X are both the default class: only the currency's effect on the rate counts.
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, availability: 9 })), hotel('F', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], hotel('X', 'GBP', pos(20)));
    assert.deepEqual(conflictFields(outcome.conflicts), ['rate']);
  });

  test('the property leaving legacy is a class change too', () => {
    const stored = sources(record(pos(10), agreed), record(pos(10), values({ ...agreedCloud, roomType: 'king' })), hotel('L', 'EUR', pos(1)));
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], hotel('L', 'EUR', pos(20), false));
    // Without its property the legacy rate has no currency: room_type is the one differing field left.
    assert.deepEqual(outcome.conflicts.map((conflict) => [conflict.field, conflict.hotelClass, conflict.winningSource]), [['room_type', 'default', 'cloud']]);
  });

  test('a property change is placed in log order among the batch\'s legacy room changes', () => {
    // Legacy log: room rate 10000 @10, property EUR @1; then room rate 20000 @15, then property GBP @16.
    // Cloud says 20000 GBP. The legacy room was never {10000, GBP}: at @15 it was {20000, EUR}.
    const stored = sources(
      record(pos(10), values({ ...agreed, rateMinor: 10000 })),
      record(pos(10), values({ ...agreed, rateMinor: 20000, currency: 'GBP' })),
      hotel('L', 'EUR', pos(1)),
    );
    const outcome = applyChanges(policy, stored, [roomChange('legacy', pos(15), values({ ...agreed, rateMinor: 20000 })), hotelChange(pos(16))], hotel('L', 'GBP', pos(16)));
    assert.deepEqual(
      outcome.conflicts.map((conflict) => ({ legacy: conflict.legacyValue, trigger: conflict.triggerPosition, hotelAt: conflict.legacyHotelPosition })),
      [{ legacy: { rate_minor: 20000, currency: 'EUR' }, trigger: pos(15), hotelAt: pos(1) }],
    );
    assert.deepEqual(outcome.resolved.rate, { rate_minor: 20000, currency: 'GBP' });
  });

  test('a property change before a batch\'s legacy room change is applied first', () => {
    const stored = sources(
      record(pos(10), values({ ...agreed, rateMinor: 10000 })),
      record(pos(10), values({ ...agreed, rateMinor: 20000, currency: 'GBP' })),
      hotel('L', 'EUR', pos(1)),
    );
    const outcome = applyChanges(policy, stored, [hotelChange(pos(16)), roomChange('legacy', pos(17), values({ ...agreed, rateMinor: 20000 }))], hotel('L', 'GBP', pos(16)));
    assert.deepEqual(
      outcome.conflicts.map((conflict) => ({ legacy: conflict.legacyValue, trigger: conflict.triggerPosition })),
      [{ legacy: { rate_minor: 10000, currency: 'GBP' }, trigger: pos(16) }],
    );
  });

  test('every conflict names the positions of both values', () => {
    const stored = agreeingRoom('F');
    const outcome = applyChanges(policy, stored, [roomChange('legacy', pos(30), values({ ...agreed, roomType: 'twin' }))], stored.legacyHotel);
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.field, conflict.legacyPosition, conflict.cloudPosition, conflict.triggerSource, conflict.winningSource]),
      [['room_type', pos(30), pos(10), 'legacy', 'cloud']],
    );
  });
});

describe('applyChanges: positions, duplicates, idempotence', () => {
  test('older positions and duplicates are ignored', () => {
    const stored = sources(record(pos(10), agreed), record(pos(10), agreedCloud), hotel('L', 'EUR', pos(1)));
    const batch = [
      roomChange('cloud', pos(9), values({ ...agreedCloud, availability: 1 })),
      roomChange('cloud', pos(10), values({ ...agreedCloud, availability: 2 })),
      roomChange('cloud', pos(12), values({ ...agreedCloud, availability: 3 })),
      roomChange('cloud', pos(12), values({ ...agreedCloud, availability: 3 })),
      roomChange('legacy', pos(10, 0), values({ ...agreed, availability: 5 })),
    ];
    const outcome = applyChanges(policy, stored, batch, stored.legacyHotel);
    assert.equal(outcome.applied, 1);
    assert.equal(outcome.ignored, 4);
    assert.equal(outcome.sources.cloud?.position, pos(12));
    assert.equal(outcome.sources.cloud?.values?.availability, 3);
    assert.equal(outcome.sources.legacy, stored.legacy);
    assert.deepEqual(conflictFields(outcome.conflicts), ['availability']);
  });

  test('within a source, log position decides, not arrival order', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(
      policy,
      stored,
      [roomChange('cloud', pos(13), values({ ...agreedCloud, availability: 3 })), roomChange('cloud', pos(12), values({ ...agreedCloud, availability: 2 }))],
      stored.legacyHotel,
    );
    assert.equal(outcome.resolved.availability, 3);
    assert.equal(outcome.sources.cloud?.position, pos(13));
    assert.equal(outcome.applied, 2);
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.cloudValue, conflict.triggerPosition]),
      [
        [2, pos(12)],
        [3, pos(13)],
      ],
      'each change is audited, in log order',
    );
    const legacyOutcome = applyChanges(
      policy,
      stored,
      [roomChange('legacy', pos(13), values({ ...agreed, roomType: 'suite' })), roomChange('legacy', pos(12), values({ ...agreed, roomType: 'twin' }))],
      stored.legacyHotel,
    );
    assert.equal(legacyOutcome.resolved.roomType, 'suite');
    assert.deepEqual(
      legacyOutcome.conflicts.map((conflict) => [conflict.legacyValue, conflict.triggerPosition]),
      [
        ['twin', pos(12)],
        ['suite', pos(13)],
      ],
    );
  });

  test('a stale legacy property is ignored', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(policy, stored, [], hotel('C', 'GBP', pos(0)));
    assert.equal(outcome.sources.legacyHotel, stored.legacyHotel);
    assert.equal(outcome.resolved.hotelClass, 'legacy-managed');
    assert.deepEqual(outcome.conflicts, []);
  });

  test('a legacy-hotel signal alone changes nothing but the property read with it', () => {
    const stored = agreeingRoom('L');
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], null);
    assert.deepEqual(outcome.sources, stored);
    assert.equal(outcome.applied, 0);
  });

  test('applying the same batch twice: identical sources and no conflict the second time', () => {
    const stored = agreeingRoom('L');
    const newHotel = hotel('L', 'GBP', pos(40));
    const batch = [
      roomChange('cloud', pos(11), values({ ...agreedCloud, availability: 7, status: 'closed' })),
      roomChange('legacy', pos(12), values({ ...agreed, roomType: 'suite' })),
      hotelChange(pos(40)),
      roomChange('cloud', pos(41), null),
    ];
    const first = applyChanges(policy, stored, batch, newHotel);
    assert.ok(first.conflicts.length > 0, 'the first application does raise conflicts');
    const second = applyChanges(policy, first.sources, batch, newHotel);
    assert.deepEqual(second.sources, first.sources);
    assert.equal(second.sources, first.sources, 'unchanged sources are the same object (the activity then writes nothing)');
    assert.deepEqual(second.conflicts, []);
    assert.equal(second.applied, 0);
    assert.equal(second.ignored, 3);
    assert.deepEqual(second.resolved, first.resolved);
  });

  test('determinism: the same input gives deep-equal output, and the input is not changed', () => {
    const stored = agreeingRoom('F');
    const batch = [roomChange('legacy', pos(12), values({ ...agreed, availability: 1 })), roomChange('cloud', pos(11), cloudFull)];
    const storedCopy = structuredClone(stored);
    const batchCopy = structuredClone(batch);
    const first = applyChanges(policy, stored, batch, hotel('C', 'USD', pos(20)));
    const second = applyChanges(policy, structuredClone(stored), structuredClone(batch), hotel('C', 'USD', pos(20)));
    assert.deepEqual(first, second);
    assert.deepEqual(stored, storedCopy);
    assert.deepEqual(batch, batchCopy);
  });
});

// ---------------------------------------------------------------- order independence

interface HistoryEntry<T> {
  lsn: number;
  ordinal: number;
  value: T;
}

/** Entries at distinct (LSN, ordinal), in any order: the log order is (LSN, ordinal). */
function history<T>(value: fc.Arbitrary<T>, ordinals: { min: number; max: number }): fc.Arbitrary<HistoryEntry<T>[]> {
  return fc.uniqueArray(fc.record({ lsn: fc.integer({ min: 1, max: 300 }), ordinal: fc.integer(ordinals), value }), {
    maxLength: 6,
    selector: (entry) => `${entry.lsn}:${entry.ordinal}`,
  });
}

function latest<T>(entries: readonly HistoryEntry<T>[]): HistoryEntry<T> | undefined {
  let best: HistoryEntry<T> | undefined;
  for (const entry of entries) {
    if (!best || entry.lsn > best.lsn || (entry.lsn === best.lsn && entry.ordinal > best.ordinal)) best = entry;
  }
  return best;
}

function inLogOrder<T>(entries: readonly HistoryEntry<T>[]): HistoryEntry<T>[] {
  return [...entries].sort((a, b) => a.lsn - b.lsn || a.ordinal - b.ordinal);
}

const roomTypes = fc.option(fc.constantFrom('double', 'king', 'twin'), { freq: 4 });
const legacyValuesArb: fc.Arbitrary<SourceRoomValues | null> = fc.option(
  fc.record({
    roomType: roomTypes,
    rateMinor: fc.option(fc.constantFrom(0, 12900, 13500), { freq: 4 }),
    currency: fc.constant(null),
    availability: fc.option(fc.constantFrom(0, 4, 7), { freq: 4 }),
    status: fc.constantFrom('open' as const, 'closed' as const),
  }),
  { freq: 5 },
);
const cloudValuesArb: fc.Arbitrary<SourceRoomValues | null> = fc.option(
  fc.record({
    roomType: roomTypes,
    rateMinor: fc.option(fc.constantFrom(0, 12900, 13500), { freq: 4 }),
    currency: fc.option(fc.constantFrom('EUR', 'GBP'), { freq: 6 }),
    availability: fc.option(fc.constantFrom(0, 4, 7), { freq: 4 }),
    status: fc.constantFrom('open' as const, 'closed' as const),
  }),
  { freq: 5 },
);
const hotelArb = fc.record({ mgmtType: fc.constantFrom('L', 'C', 'F'), currency: fc.constantFrom('EUR', 'GBP'), present: fc.boolean() });

interface Histories {
  legacy: HistoryEntry<SourceRoomValues | null>[];
  cloud: HistoryEntry<SourceRoomValues | null>[];
  hotels: HistoryEntry<{ mgmtType: string; currency: string; present: boolean }>[];
}

const historiesArb: fc.Arbitrary<Histories> = fc.record({
  legacy: history(legacyValuesArb, { min: 0, max: 3 }),
  cloud: history(cloudValuesArb, { min: 0, max: 3 }),
  // property changes share legacy's log; keep them at ordinals the room rows do not use
  hotels: history(hotelArb, { min: 4, max: 5 }),
});

function entryPosition(entry: HistoryEntry<unknown>): string {
  return pos(entry.lsn, entry.ordinal);
}

function hotelOf(entry: Histories['hotels'][number] | undefined): LegacyHotel | null {
  return entry ? hotel(entry.value.mgmtType, entry.value.currency, entryPosition(entry), entry.value.present) : null;
}

function allChanges(histories: Histories): SourceChange[] {
  return [
    ...histories.legacy.map((entry) => roomChange('legacy', entryPosition(entry), entry.value)),
    ...histories.cloud.map((entry) => roomChange('cloud', entryPosition(entry), entry.value)),
    ...histories.hotels.map((entry) => hotelChange(entryPosition(entry))),
  ];
}

interface Delivery {
  histories: Histories;
  /** Every change at least once, some twice, in any order. */
  order: SourceChange[];
  /** Where the delivery is cut into batches. */
  cuts: boolean[];
  /** Which recorded property each batch but the last reads (the last reads the newest). */
  hotelPicks: number[];
}

const deliveryArb: fc.Arbitrary<Delivery> = historiesArb.chain((histories) => {
  const changes = allChanges(histories);
  return fc
    .array(fc.nat({ max: Math.max(changes.length - 1, 0) }), { maxLength: changes.length === 0 ? 0 : 4 })
    .chain((duplicates) => {
      const delivered = [...changes, ...duplicates.flatMap((index) => (changes[index] ? [changes[index]] : []))];
      return fc.record({
        histories: fc.constant(histories),
        order: fc.shuffledSubarray(delivered, { minLength: delivered.length, maxLength: delivered.length }),
        cuts: fc.array(fc.boolean(), { minLength: delivered.length, maxLength: delivered.length }),
        hotelPicks: fc.array(fc.nat(), { minLength: delivered.length, maxLength: delivered.length }),
      });
    });
});

function batchesOf(order: readonly SourceChange[], cuts: readonly boolean[]): SourceChange[][] {
  const batches: SourceChange[][] = [[]];
  order.forEach((change, index) => {
    batches.at(-1)?.push(change);
    if (cuts[index] && index < order.length - 1) batches.push([]);
  });
  return batches;
}

function deliver(delivery: Delivery): { resolved: ResolvedRoom; sources: RoomSources; conflicts: Conflict[] } {
  const { histories } = delivery;
  const batches = batchesOf(delivery.order, delivery.cuts);
  let stored: RoomSources = noSources;
  const conflicts: Conflict[] = [];
  let resolved = resolveRoom(policy, stored);
  batches.forEach((batch, index) => {
    const last = index === batches.length - 1;
    const pick = delivery.hotelPicks[index] ?? 0;
    // Earlier batches may read any recorded property (or none yet); the last reads the newest.
    const property = last ? hotelOf(latest(histories.hotels)) : pick % 3 === 0 ? null : hotelOf(histories.hotels[pick % Math.max(histories.hotels.length, 1)]);
    const outcome = applyChanges(policy, stored, batch, property);
    stored = outcome.sources;
    resolved = outcome.resolved;
    conflicts.push(...outcome.conflicts);
  });
  return { resolved, sources: stored, conflicts };
}

describe('applyChanges: order independence', () => {
  test('property: any interleaving, batching and duplication of the two histories gives the contract\'s row', () => {
    fc.assert(
      fc.property(deliveryArb, (delivery) => {
        const { histories } = delivery;
        const newestLegacy = latest(histories.legacy);
        const newestCloud = latest(histories.cloud);
        const newestHotel = hotelOf(latest(histories.hotels));
        const expected = refResolve(newestLegacy?.value ?? null, newestCloud?.value ?? null, newestHotel);
        const outcome = deliver(delivery);
        assertMatchesReference(outcome.resolved, expected);
        assert.equal(outcome.sources.legacy?.position ?? null, newestLegacy ? entryPosition(newestLegacy) : null);
        assert.equal(outcome.sources.cloud?.position ?? null, newestCloud ? entryPosition(newestCloud) : null);
        assert.deepEqual(outcome.sources.legacyHotel, newestHotel);

        // The same changes in one batch, in log order, give the identical row.
        const canonical = [
          ...inLogOrder(histories.legacy).map((entry) => roomChange('legacy', entryPosition(entry), entry.value)),
          ...inLogOrder(histories.cloud).map((entry) => roomChange('cloud', entryPosition(entry), entry.value)),
        ];
        const inOrder = applyChanges(policy, noSources, canonical, newestHotel);
        assert.deepEqual(outcome.resolved, inOrder.resolved);
        assert.deepEqual(outcome.sources, inOrder.sources);

        // Every conflict is between two present, differing values, and the winner's value is the winner's.
        for (const conflict of outcome.conflicts) {
          assert.ok(!refEqual(conflict.legacyValue, conflict.cloudValue), `conflict on equal values ${JSON.stringify(conflict)}`);
          assert.deepEqual(conflict.winningValue, conflict.winningSource === 'legacy' ? conflict.legacyValue : conflict.cloudValue);
        }

        // Replaying the whole delivery changes nothing and raises no conflict.
        const replay = applyChanges(policy, outcome.sources, delivery.order, newestHotel);
        assert.deepEqual(replay.sources, outcome.sources);
        assert.deepEqual(replay.conflicts, []);
        assert.equal(replay.applied, 0);
      }),
      { numRuns: 400 },
    );
  });

  test('property: changes arriving in log order raise exactly the contract\'s conflicts', () => {
    const interleavedArb = fc
      .record({ legacy: history(legacyValuesArb, { min: 0, max: 3 }), cloud: history(cloudValuesArb, { min: 0, max: 3 }), property: fc.option(hotelArb) })
      .chain((histories) => {
        const legacy = inLogOrder(histories.legacy).map((entry) => roomChange('legacy', entryPosition(entry), entry.value));
        const cloud = inLogOrder(histories.cloud).map((entry) => roomChange('cloud', entryPosition(entry), entry.value));
        return fc.record({
          property: fc.constant(histories.property),
          legacy: fc.constant(legacy),
          cloud: fc.constant(cloud),
          picks: fc.array(fc.boolean(), { minLength: legacy.length + cloud.length, maxLength: legacy.length + cloud.length }),
        });
      });
    fc.assert(
      fc.property(interleavedArb, ({ property, legacy, cloud, picks }) => {
        // an interleaving that keeps each source's log order
        const batch: SourceChange[] = [];
        let l = 0;
        let c = 0;
        for (const takeLegacy of picks) {
          const next = (takeLegacy && l < legacy.length) || c >= cloud.length ? legacy[l++] : cloud[c++];
          if (next) batch.push(next);
        }
        const legacyHotel = property ? hotel(property.mgmtType, property.currency, pos(0, 4), property.present) : null;

        const expected: Array<{ field: Field; legacy: RefValue; cloud: RefValue; winner: Source | null; trigger: string }> = [];
        const state: Record<Source, SourceRoomValues | null> = { legacy: null, cloud: null };
        // A source transaction (one commit LSN) is atomic: it is judged whole, when its first change arrives.
        const commitOfPosition = (position: string) => position.split(':')[0];
        const done = new Set<string>();
        for (const first of batch) {
          if (first.kind !== 'room') continue;
          const key = `${first.source}/${commitOfPosition(first.position)}`;
          if (done.has(key)) continue;
          done.add(key);
          const members = batch.filter(
            (candidate): candidate is typeof first => candidate.kind === 'room' && candidate.source === first.source && commitOfPosition(candidate.position) === commitOfPosition(first.position),
          );
          const change = members.at(-1) ?? first;
          const before = refView(change.source, state[change.source], legacyHotel);
          state[change.source] = change.values;
          const after = refView(change.source, change.values, legacyHotel);
          const views = { legacy: refView('legacy', state.legacy, legacyHotel), cloud: refView('cloud', state.cloud, legacyHotel) };
          const resolved = refResolve(state.legacy, state.cloud, legacyHotel);
          for (const field of fields) {
            const legacyValue = views.legacy[field];
            const cloudValue = views.cloud[field];
            if (refEqual(before[field], after[field]) || legacyValue === null || cloudValue === null || refEqual(legacyValue, cloudValue)) continue;
            expected.push({ field, legacy: legacyValue, cloud: cloudValue, winner: resolved.from[field], trigger: change.position });
          }
        }

        const outcome = applyChanges(policy, { legacy: null, cloud: null, legacyHotel }, batch, null);
        assert.deepEqual(
          outcome.conflicts.map((conflict) => ({
            field: conflict.field,
            legacy: conflict.legacyValue,
            cloud: conflict.cloudValue,
            winner: conflict.winningSource,
            trigger: conflict.triggerPosition,
          })),
          expected,
        );
        for (const conflict of outcome.conflicts) assert.equal(conflict.hotelClass, refClass(legacyHotel));
      }),
      { numRuns: 400 },
    );
  });
});

describe('applyChanges: a source transaction is audited whole', () => {
  test('a property and a room changed in one legacy transaction raise one conflict, on the committed values', () => {
    // Before: legacy 12900 EUR agrees with cloud. One legacy transaction (LSN 20) switches the
    // property to JPY (ordinal 1) and the rate to 15000 (ordinal 2); cloud says 15500 JPY.
    const stored = sources(record(pos(10), values({ rateMinor: 12900 })), record(pos(11), values({ rateMinor: 15500, currency: 'JPY' })), hotel('L', 'EUR', pos(5)));
    const outcome = applyChanges(policy, stored, [hotelChange(pos(20, 1)), roomChange('legacy', pos(20, 2), values({ rateMinor: 15000 }))], hotel('L', 'JPY', pos(20, 1)));
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.field, conflict.legacyValue, conflict.cloudValue, conflict.triggerPosition]),
      [['rate', { rate_minor: 15000, currency: 'JPY' }, { rate_minor: 15500, currency: 'JPY' }, pos(20, 2)]],
    );
  });

  test('a value changed and changed back inside one transaction is no change', () => {
    const stored = sources(record(pos(10), values({ availability: 4 })), record(pos(11), values({ availability: 4 })), null);
    const outcome = applyChanges(policy, stored, [roomChange('legacy', pos(30, 1), values({ availability: 9 })), roomChange('legacy', pos(30, 2), values({ availability: 4 }))], null);
    assert.deepEqual(outcome.conflicts, []);
    assert.equal(outcome.sources.legacy?.position, pos(30, 2));
  });

  test('two transactions each raise their own conflict', () => {
    const stored = sources(record(pos(10), values({ availability: 4 })), record(pos(11), values({ availability: 4 })), null);
    const outcome = applyChanges(policy, stored, [roomChange('legacy', pos(30, 1), values({ availability: 9 })), roomChange('legacy', pos(31, 1), values({ availability: 8 }))], null);
    assert.deepEqual(outcome.conflicts.map((conflict) => [conflict.legacyValue, conflict.triggerPosition]), [[9, pos(30, 1)], [8, pos(31, 1)]]);
  });
});

// ---------------------------------------------------------------- policy re-resolution

/** The default policy with some owners changed: `{ 'cloud-managed': { rate: 'legacy' } }`. */
function policyWith(owners: Partial<Record<HotelClass, Partial<Record<Field, Source>>>>, fallback: 'other-source' | 'none' = 'other-source'): Policy {
  const classes = Object.fromEntries(
    (Object.keys(table) as HotelClass[]).map((hotelClass) => [hotelClass, { ...table[hotelClass], ...owners[hotelClass] }]),
  );
  return parsePolicy(
    {
      name: 'business-default',
      classification: policy.classification,
      groups: policy.groups,
      fallback,
      classes,
    },
    'test',
  );
}

const cloudRateToLegacy = policyWith({ 'cloud-managed': { rate: 'legacy' } });
const resolvedWithDefault = { policyVersion: policy.policyVersion, policy };

describe('applyChanges: a policy change re-resolves the room', () => {
  // A cloud-managed room whose sources disagree on rate and availability.
  const disputed = sources(
    record(pos(10), values({ ...agreed, rateMinor: 12000 })),
    record(pos(11), values({ ...agreedCloud, availability: 9 })),
    hotel('C', 'EUR', pos(1)),
  );

  test('an empty batch under a policy that decides the room differently audits every differing field', () => {
    const outcome = applyChanges(cloudRateToLegacy, disputed, [], disputed.legacyHotel, { resolvedWith: resolvedWithDefault, policyActivation: '7' });
    assert.equal(outcome.reResolved, true);
    assert.equal(outcome.sources, disputed, 'the stored values are unchanged');
    assert.deepEqual(
      outcome.conflicts.map((conflict) => ({
        field: conflict.field,
        winner: conflict.winningSource,
        winning: conflict.winningValue,
        rule: conflict.rule,
        trigger: `${conflict.triggerSource} ${conflict.triggerPosition}`,
        positions: [conflict.legacyPosition, conflict.cloudPosition, conflict.legacyHotelPosition],
      })),
      [
        {
          field: 'rate',
          winner: 'legacy',
          winning: { rate_minor: 12000, currency: 'EUR' },
          rule: 'cloud-managed/rate: owner legacy',
          trigger: 'policy 7',
          positions: [pos(10), pos(11), pos(1)],
        },
        // availability's winner is the same under both policies, but it is re-resolved and audited all the same
        { field: 'availability', winner: 'cloud', winning: 9, rule: 'cloud-managed/availability: owner cloud', trigger: 'policy 7', positions: [pos(10), pos(11), pos(1)] },
      ],
    );
    assert.deepEqual(outcome.resolved.rate, { rate_minor: 12000, currency: 'EUR' });
    assert.equal(outcome.resolved.decisions.rate.source, 'legacy');
    assert.equal(outcome.resolved.policyVersion, cloudRateToLegacy.policyVersion);
  });

  test('a room the new policy decides the same way is not re-resolved', () => {
    const legacyManaged = { ...disputed, legacyHotel: hotel('L', 'EUR', pos(1)) };
    const outcome = applyChanges(cloudRateToLegacy, legacyManaged, [], legacyManaged.legacyHotel, { resolvedWith: resolvedWithDefault, policyActivation: '7' });
    assert.equal(outcome.reResolved, false);
    assert.deepEqual(outcome.conflicts, []);
  });

  test('the same version, no row yet, or no context: never a re-resolution', () => {
    const context = (resolvedWith: { policyVersion: string; policy: Policy | null } | null) => ({ resolvedWith, policyActivation: '7' });
    assert.equal(applyChanges(policy, disputed, [], null, context(resolvedWithDefault)).reResolved, false);
    assert.equal(applyChanges(cloudRateToLegacy, disputed, [], null, context(null)).reResolved, false);
    assert.equal(applyChanges(cloudRateToLegacy, disputed, [], null).reResolved, false);
    assert.deepEqual(applyChanges(cloudRateToLegacy, disputed, [], null).conflicts, []);
  });

  test('a row resolved under a policy the worker does not know is re-resolved', () => {
    const outcome = applyChanges(policy, disputed, [], null, { resolvedWith: { policyVersion: 'gone@000000000000', policy: null }, policyActivation: '3' });
    assert.equal(outcome.reResolved, true);
    assert.deepEqual(conflictFields(outcome.conflicts), ['rate', 'availability']);
  });

  test('a re-resolution is audited before the changes of the batch, each with its own trigger', () => {
    const change = roomChange('cloud', pos(12), values({ ...agreedCloud, availability: 5 }));
    const outcome = applyChanges(cloudRateToLegacy, disputed, [change], disputed.legacyHotel, { resolvedWith: resolvedWithDefault, policyActivation: '7' });
    assert.deepEqual(
      outcome.conflicts.map((conflict) => [conflict.field, conflict.cloudValue, `${conflict.triggerSource} ${conflict.triggerPosition}`]),
      [
        ['rate', { rate_minor: 12900, currency: 'EUR' }, 'policy 7'],
        ['availability', 9, 'policy 7'],
        ['availability', 5, `cloud ${pos(12)}`],
      ],
    );
  });

  test('once re-resolved, the room is not re-resolved again under the same policy', () => {
    const first = applyChanges(cloudRateToLegacy, disputed, [], null, { resolvedWith: resolvedWithDefault, policyActivation: '7' });
    const again = applyChanges(cloudRateToLegacy, first.sources, [], null, {
      resolvedWith: { policyVersion: first.resolved.policyVersion, policy: cloudRateToLegacy },
      policyActivation: '7',
    });
    assert.equal(again.reResolved, false);
    assert.deepEqual(again.conflicts, []);
  });

  test('resolutionChanges names the fields whose decision moved', () => {
    const changes = resolutionChanges(resolveRoom(policy, disputed), resolveRoom(cloudRateToLegacy, disputed));
    assert.deepEqual(
      changes.map((change) => [change.field, change.before.source, change.before.value, change.after.source, change.after.value]),
      [['rate', 'cloud', { rate_minor: 12900, currency: 'EUR' }, 'legacy', { rate_minor: 12000, currency: 'EUR' }]],
    );
    // The owner changed but has no value: the value stays, the rule says so.
    const noLegacyRate = sources(record(pos(10), values({ ...agreed, rateMinor: null })), disputed.cloud, hotel('C', 'EUR', pos(1)));
    const ruleOnly = resolutionChanges(resolveRoom(policy, noLegacyRate), resolveRoom(cloudRateToLegacy, noLegacyRate));
    assert.deepEqual(ruleOnly.map((change) => [change.field, change.before.source, change.after.source, change.after.rule]), [
      ['rate', 'cloud', 'cloud', 'cloud-managed/rate: owner legacy has no value, fallback cloud'],
    ]);
    assert.equal(needsReResolution(cloudRateToLegacy, noLegacyRate, resolvedWithDefault), true, 'a moved rule is a re-resolution');
  });
});

const ownerArb = fc.constantFrom<Source>('legacy', 'cloud');
const ownersArb = fc.record({ rate: ownerArb, availability: ownerArb, room_type: ownerArb, status: ownerArb });
const policyArb: fc.Arbitrary<Policy> = fc
  .record({ 'legacy-managed': ownersArb, 'cloud-managed': ownersArb, default: ownersArb, fallback: fc.constantFrom<'other-source' | 'none'>('other-source', 'none') })
  .map(({ fallback, ...owners }) => policyWith(owners, fallback));
const storedSourcesArb: fc.Arbitrary<RoomSources> = fc
  .record({ legacy: legacyValuesArb, cloud: cloudValuesArb, hotel: fc.option(hotelArb), legacyAt: fc.boolean(), cloudAt: fc.boolean() })
  .map(({ legacy, cloud, hotel: property, legacyAt, cloudAt }) =>
    sources(
      legacyAt ? record(pos(10), legacy) : null,
      cloudAt ? record(pos(11), cloud) : null,
      property ? hotel(property.mgmtType, property.currency, pos(1), property.present) : null,
    ),
  );

/** Fields both sources have a value for, differing: what a re-resolution audits. */
function differingFields(stored: RoomSources): Field[] {
  const views = { legacy: refView('legacy', stored.legacy?.values ?? null, stored.legacyHotel), cloud: refView('cloud', stored.cloud?.values ?? null, stored.legacyHotel) };
  return fields.filter((field) => views.legacy[field] !== null && views.cloud[field] !== null && !refEqual(views.legacy[field], views.cloud[field]));
}

describe('applyChanges: re-resolution properties', () => {
  test('property: a policy change re-resolves exactly the rooms it decides differently, auditing every differing field under the new owners', () => {
    fc.assert(
      fc.property(policyArb, policyArb, storedSourcesArb, (from, to, stored) => {
        const outcome = applyChanges(to, stored, [], stored.legacyHotel, { resolvedWith: { policyVersion: from.policyVersion, policy: from }, policyActivation: '42' });
        const before = resolveRoom(from, stored);
        const after = resolveRoom(to, stored);
        const decidedDifferently = from.policyVersion !== to.policyVersion && resolutionChanges(before, after).length > 0;
        assert.equal(outcome.reResolved, decidedDifferently);
        assert.equal(outcome.sources, stored);
        assert.deepEqual(outcome.resolved, after);
        if (!decidedDifferently) {
          assert.deepEqual(outcome.conflicts, []);
          return;
        }
        assert.deepEqual(conflictFields(outcome.conflicts), differingFields(stored));
        for (const conflict of outcome.conflicts) {
          assert.equal(conflict.triggerSource, 'policy');
          assert.equal(conflict.triggerPosition, '42');
          assert.equal(conflict.winningSource, after.decisions[conflict.field].source);
          assert.equal(conflict.rule, after.decisions[conflict.field].rule);
          assert.deepEqual(conflict.winningValue, conflict.winningSource === 'legacy' ? conflict.legacyValue : conflict.cloudValue);
        }
        // Re-resolved, the row carries the new version: a second pass does nothing.
        const again = applyChanges(to, outcome.sources, [], stored.legacyHotel, { resolvedWith: { policyVersion: to.policyVersion, policy: to }, policyActivation: '42' });
        assert.equal(again.reResolved, false);
        assert.deepEqual(again.conflicts, []);
      }),
      { numRuns: 500 },
    );
  });

  test('property: a property change that changes the class audits every differing field; one that keeps it, only what it changed', () => {
    fc.assert(
      fc.property(storedSourcesArb, hotelArb, (stored, next) => {
        const newHotel = hotel(next.mgmtType, next.currency, pos(20), next.present);
        const outcome = applyChanges(policy, stored, [hotelChange(pos(20))], newHotel);
        const after = { ...stored, legacyHotel: newHotel };
        const classChanged = refClass(stored.legacyHotel) !== refClass(newHotel);
        const legacyBefore = refView('legacy', stored.legacy?.values ?? null, stored.legacyHotel);
        const legacyAfter = refView('legacy', stored.legacy?.values ?? null, newHotel);
        const expected = differingFields(after).filter((field) => classChanged || !refEqual(legacyBefore[field], legacyAfter[field]));
        assert.deepEqual(conflictFields(outcome.conflicts), expected);
        const resolved = refResolve(stored.legacy?.values ?? null, stored.cloud?.values ?? null, newHotel);
        for (const conflict of outcome.conflicts) {
          assert.equal(conflict.hotelClass, resolved.hotelClass);
          assert.equal(conflict.winningSource, resolved.from[conflict.field]);
          assert.equal(conflict.triggerPosition, pos(20));
        }
      }),
      { numRuns: 500 },
    );
  });
});
