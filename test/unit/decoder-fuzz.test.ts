// Hostile input, decoder side: every row of the source column types — and rows that are not
// of those types at all — is either mapped to values the unified schemas accept or refused
// with a reason. A mapping function never throws (a throw would stop the stream).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { legacyHotelSchema, sourceRoomValuesSchema, type MappingResult } from '../../src/mapping/change.js';
import { cloudRoomRowSchema, mapCloudProperty, mapCloudRoom, mapCloudRoomKey, mapCloudRoomValues } from '../../src/mapping/cloud.js';
import { legacyHotelCode, mapLegacyProperty, mapLegacyRoom, mapLegacyRoomKey } from '../../src/mapping/legacy.js';

const runs = { numRuns: 400 };

const nonEmpty = z.string().min(1);
const roomKeySchema = z.object({ hotelCode: nonEmpty, roomCode: nonEmpty }).strict();
const legacyPropertyValuesSchema = legacyHotelSchema.pick({ hotelCode: true, mgmtType: true, currency: true }).strict();
const legacyRoomSchema = z.object({ room: roomKeySchema, values: sourceRoomValuesSchema.nullable() }).strict();
const cloudRoomSchema = z.object({ room: roomKeySchema, values: sourceRoomValuesSchema }).strict();
const cloudPropertySchema = z.object({ propertyId: z.guid(), hotelCode: nonEmpty }).strict();

/** Calls `map` and checks the MappingResult contract; a throw fails the property with the input. */
function checkResult<T>(label: string, map: () => MappingResult<T>, valueSchema: z.ZodType): void {
  let result: MappingResult<T>;
  try {
    result = map();
  } catch (error) {
    assert.fail(`${label} threw: ${error instanceof Error ? error.stack : String(error)}`);
  }
  assert.equal(typeof result, 'object', `${label}: a MappingResult`);
  if (result.ok) {
    const parsed = valueSchema.safeParse(result.value);
    assert.ok(parsed.success, `${label}: mapped value fails its schema: ${parsed.success ? '' : parsed.error.message}`);
  } else {
    assert.equal(typeof result.reason, 'string', `${label}: reason is a string`);
    assert.ok(result.reason.length > 0, `${label}: reason is non-empty`);
  }
}

// ---------------------------------------------------------------- value generators

/** Text as hostile as JS allows: full unicode, lone surrogates, control characters, null bytes. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\t', '\n', '\r', ' ', '\u00a0', '\u2028', '\ufeff', "'", '"', '\\', ';', '-', 'a', 'Z', 'ß', 'ﬀ', 'İ'), maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '   ', '\u0000', 'constructor', '__proto__', 'toString', "1'; DROP TABLE unified_rooms; --"),
  fc.string({ unit: 'grapheme-ascii', minLength: 10_000, maxLength: 10_240 }),
);

/** Text shaped like the real column (so the deeper checks are reached), plus hostile text. */
function textLike(...plausible: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...plausible), weight: 3 },
    { arbitrary: fc.constantFrom(...plausible).map((value) => ` ${value.toLowerCase()}  `), weight: 1 },
    { arbitrary: hostileText, weight: 2 },
  );
}

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.integer({ min: -32768, max: 32767 }),
  fc.double(),
  fc.constantFrom(0, -0, -1, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER, 2 ** 31, -(2 ** 31), 1e308, Number.MIN_VALUE),
);

/** Postgres numeric as pg delivers it: a decimal string, or its special values. */
const numericText = fc.oneof(
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e400', '-1e400', '0', '0.00', '-0.01', '129.50', '15000', '100.5', '1.001', ' 12.00 ', '.5', '5.', '+5', '', '١٢٣'),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.tuple(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.nat({ max: 99999 })).map(([whole, fraction]) => `${whole}.${fraction}`),
  fc.string({ unit: fc.constantFrom('9', '0'), minLength: 1000, maxLength: 10_000 }),
  fc.double().map(String),
  hostileText,
);

/** A wrong JS type for any column. */
const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(undefined, null, true, false, NaN, Symbol('column'), () => 'fn'),
  fc.bigInt(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
  fc.date({ noInvalidDate: false }),
  hostileNumber,
  fc.string({ maxLength: 5 }),
);

/** Usually the column's own type, sometimes null, sometimes anything at all. */
function column<T>(typed: fc.Arbitrary<T>, nullable: boolean): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: typed, weight: 6 },
    { arbitrary: fc.constant(null), weight: nullable ? 2 : 1 },
    { arbitrary: wrongType, weight: 1 },
  );
}

/** A row: some keys may be missing, extra keys may appear. */
function row(columns: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const shaped = fc.record(columns, { requiredKeys: [] });
  const withExtras = fc
    .tuple(shaped, fc.dictionary(fc.string({ maxLength: 8 }), wrongType, { maxKeys: 2 }))
    .map(([base, extras]) => ({ ...extras, ...base }));
  return fc.oneof(
    { arbitrary: fc.record(columns), weight: 6 },
    { arbitrary: shaped, weight: 2 },
    { arbitrary: withExtras, weight: 1 },
    { arbitrary: wrongType, weight: 1 },
  );
}

const uuid = fc.uuid();

const legacyPropertyRow = row({
  prop_cd: column(textLike('DLQ1    ', 'BER1', 'X'), false),
  mgmt_typ: column(textLike('L', 'C', 'F'), false),
  crncy_cd: column(textLike('EUR', 'JPY', 'KWD', 'XYZ', 'eur'), false),
  prop_nm: column(hostileText, false),
  lst_upd_ts: column(fc.date({ noInvalidDate: false }), false),
});

const legacyRoomRow = row({
  prop_cd: column(textLike('DLQ1    ', 'BER1'), false),
  rm_nbr: column(textLike('101', 's1', ' 7a '), false),
  rm_typ_cd: column(textLike('DBL', 'KNG', 'TWN', 'SGL', 'STE', 'FAM', 'XXX'), true),
  rate_amt: column(hostileNumber, true),
  allot_qty: column(hostileNumber, true),
  stat_cd: column(textLike('A', 'X', 'D', 'Q'), false),
  lst_upd_ts: column(fc.date({ noInvalidDate: false }), false),
  lst_upd_usr: column(hostileText, true),
});

const cloudPropertyRow = row({
  id: column(uuid, false),
  external_code: column(textLike('dlq1', 'ber1'), false),
  display_name: column(hostileText, false),
  timezone: column(textLike('Europe/Berlin'), false),
});

const cloudRoomRow = row({
  id: column(uuid, false),
  property_id: column(uuid, false),
  room_code: column(textLike('101', 's1'), false),
  room_type: column(textLike('single', 'double', 'twin', 'king', 'suite', 'family'), true),
  nightly_rate: column(numericText, true),
  currency: column(textLike('EUR', 'JPY', 'KWD', 'CLF', 'XYZ', 'eur'), true),
  available_count: column(hostileNumber, true),
  is_active: column(fc.boolean(), false),
  attributes: column(fc.jsonValue(), false),
  version: column(fc.bigInt().map(String), false),
});

/** Rows of exactly the column types (nulls only where the column allows them), so the checks past the shape are reached. */
const intColumn = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -32768, max: 32767 }), fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER));
const orNull = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: null, freq: 4 });

const typedLegacyRoomRow = fc.record({
  prop_cd: textLike('DLQ1    ', 'BER1'),
  rm_nbr: textLike('101', 's1', ' 7a '),
  rm_typ_cd: orNull(textLike('DBL', 'KNG', 'TWN', 'SGL', 'STE', 'FAM', 'XXX')),
  rate_amt: orNull(intColumn),
  allot_qty: orNull(intColumn),
  stat_cd: textLike('A', 'X', 'D', 'Q'),
  lst_upd_usr: orNull(hostileText),
});

const typedLegacyPropertyRow = fc.record({
  prop_cd: textLike('DLQ1    ', 'BER1', 'X'),
  mgmt_typ: textLike('L', 'C', 'F'),
  crncy_cd: textLike('EUR', 'JPY', 'KWD', 'XYZ', 'eur'),
});

const typedCloudRoomRow = fc.record({
  id: uuid,
  property_id: uuid,
  room_code: textLike('101', 's1'),
  room_type: orNull(textLike('single', 'double', 'twin', 'king', 'suite', 'family')),
  nightly_rate: orNull(numericText),
  currency: orNull(textLike('EUR', 'JPY', 'KWD', 'CLF', 'XYZ', 'eur')),
  available_count: orNull(intColumn),
  is_active: fc.boolean(),
  attributes: fc.jsonValue({ maxDepth: 2 }),
});

const typedCloudPropertyRow = fc.record({ id: uuid, external_code: textLike('dlq1', 'ber1') });

/** Resolves about half the property ids, to a hostile code at times. */
const hotelCodeOf = fc.func(fc.oneof(fc.constant(undefined), fc.constantFrom('DLQ1', 'BER1'), hostileText.filter((text) => text !== '')));

// ---------------------------------------------------------------- properties

describe('legacy decoder fuzzing', () => {
  test('legacyHotelCode: any text maps to a non-empty code or is refused', () => {
    fc.assert(
      fc.property(hostileText, (text) => checkResult('legacyHotelCode', () => legacyHotelCode(text), nonEmpty)),
      runs,
    );
  });

  test('mapLegacyProperty never throws', () => {
    fc.assert(
      fc.property(fc.oneof(legacyPropertyRow, typedLegacyPropertyRow), (input) => checkResult('mapLegacyProperty', () => mapLegacyProperty(input), legacyPropertyValuesSchema)),
      runs,
    );
  });

  test('mapLegacyRoomKey never throws', () => {
    fc.assert(
      fc.property(fc.oneof(legacyRoomRow, typedLegacyRoomRow), (input) => checkResult('mapLegacyRoomKey', () => mapLegacyRoomKey(input), roomKeySchema)),
      runs,
    );
  });

  test('mapLegacyRoom never throws', () => {
    fc.assert(
      fc.property(fc.oneof(legacyRoomRow, typedLegacyRoomRow), (input) => checkResult('mapLegacyRoom', () => mapLegacyRoom(input), legacyRoomSchema)),
      { numRuns: 1000 },
    );
  });
});

describe('cloud decoder fuzzing', () => {
  test('mapCloudProperty never throws', () => {
    fc.assert(
      fc.property(fc.oneof(cloudPropertyRow, typedCloudPropertyRow), (input) => checkResult('mapCloudProperty', () => mapCloudProperty(input), cloudPropertySchema)),
      runs,
    );
  });

  test('mapCloudRoomKey never throws', () => {
    fc.assert(
      fc.property(fc.oneof(cloudRoomRow, typedCloudRoomRow), hotelCodeOf, (input, lookup) => checkResult('mapCloudRoomKey', () => mapCloudRoomKey(input, lookup), roomKeySchema)),
      runs,
    );
  });

  test('mapCloudRoom never throws', () => {
    fc.assert(
      fc.property(fc.oneof(cloudRoomRow, typedCloudRoomRow), hotelCodeOf, (input, lookup) => checkResult('mapCloudRoom', () => mapCloudRoom(input, lookup), cloudRoomSchema)),
      { numRuns: 1000 },
    );
  });

  test('mapCloudRoomValues never throws on any row of the column types', () => {
    const typedRow = fc.oneof(cloudRoomRow, typedCloudRoomRow).filter((input) => cloudRoomRowSchema.safeParse(input).success).map((input) => cloudRoomRowSchema.parse(input));
    fc.assert(
      fc.property(typedRow, (input) => checkResult('mapCloudRoomValues', () => mapCloudRoomValues(input), sourceRoomValuesSchema)),
      runs,
    );
  });
});

describe('hostile examples', () => {
  const property = '6f1c1a3e-2b4d-4c5e-8f90-1a2b3c4d5e6f';
  const cloudRoom = (overrides: Record<string, unknown>) => ({
    id: '0b7c6d5e-4f3a-4b2c-9d1e-0f1a2b3c4d5e',
    property_id: property,
    room_code: '101',
    room_type: 'double',
    nightly_rate: '129.50',
    currency: 'EUR',
    available_count: 3,
    is_active: true,
    ...overrides,
  });
  const lookup = (id: string) => (id === property ? 'DLQ1' : undefined);

  for (const special of ['NaN', 'Infinity', '-Infinity', '1e400', '9'.repeat(10_000)]) {
    test(`numeric ${special.slice(0, 12)} is refused with a reason`, () => {
      const result = mapCloudRoom(cloudRoom({ nightly_rate: special }), lookup);
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.reason.length > 0);
    });
  }

  test('SQL-looking codes are mapped as plain text, normalized upper(trim())', () => {
    const result = mapCloudRoom(cloudRoom({ room_code: " 1'; drop table unified_rooms; -- " }), lookup);
    assert.ok(result.ok);
    assert.equal(result.value.room.roomCode, "1'; DROP TABLE UNIFIED_ROOMS; --");
  });

  test('a 10 kB legacy code with a null byte is mapped or refused, never thrown', () => {
    const code = `\u0000${'x'.repeat(10_240)}`;
    checkResult('mapLegacyRoom', () => mapLegacyRoom({ prop_cd: code, rm_nbr: code, rm_typ_cd: null, rate_amt: null, allot_qty: null, stat_cd: 'A' }), legacyRoomSchema);
  });

  test('rows that are not objects are refused', () => {
    for (const input of [null, undefined, 42, 'row', [], Symbol('row')]) {
      assert.equal(mapLegacyRoom(input).ok, false);
      assert.equal(mapLegacyProperty(input).ok, false);
      assert.equal(mapCloudRoom(input, lookup).ok, false);
      assert.equal(mapCloudProperty(input).ok, false);
    }
  });
});
