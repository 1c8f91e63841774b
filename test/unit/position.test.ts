import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  bigIntToLsn,
  comparePositions,
  isNewer,
  lsnToBigInt,
  makePosition,
  positionLsn,
} from '../../src/domain/position.js';

const maxHalf = 0xffffffffn;
const half = fc.bigInt({ min: 0n, max: maxHalf });
/** An LSN as two 32-bit halves, the way Postgres prints it (%X/%X). */
const lsnHalves = fc.tuple(half, half);
/** Ordinals inside one transaction: 0 for snapshot rows, 1.. for streamed changes. */
const ordinal = fc.integer({ min: 0, max: 0xffffffff });

function lsnText([high, low]: readonly [bigint, bigint], lowerCase = false): string {
  const text = `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
  return lowerCase ? text.toLowerCase() : text;
}

function lsnValue([high, low]: readonly [bigint, bigint]): bigint {
  return high * 2n ** 32n + low;
}

function sign(n: number | bigint): number {
  return n > 0 ? 1 : n < 0 ? -1 : 0;
}

/** Reference order: by LSN, then by ordinal. */
function compareTuples(a: readonly [bigint, number], b: readonly [bigint, number]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return sign(a[1] - b[1]);
}

describe('LSN parsing and printing', () => {
  test('known values', () => {
    assert.equal(lsnToBigInt('0/0'), 0n);
    assert.equal(lsnToBigInt('0/16B3748'), 0x16b3748n);
    assert.equal(lsnToBigInt('16/B374D848'), 0x16b374d848n);
    assert.equal(lsnToBigInt('16/b374d848'), 0x16b374d848n);
    assert.equal(lsnToBigInt('FFFFFFFF/FFFFFFFF'), 2n ** 64n - 1n);
    assert.equal(bigIntToLsn(0x16b374d848n), '16/B374D848');
    assert.equal(bigIntToLsn(0n), '0/0');
    assert.equal(bigIntToLsn(2n ** 32n), '1/0');
  });

  test('what is not an LSN is refused', () => {
    for (const text of ['', '1234', '0/', '/0', 'G/1', '0/G', '123456789/0', '0/123456789', ' 0/1', '0/1 ', '-1/0']) {
      assert.throws(() => lsnToBigInt(text), /not an LSN/, JSON.stringify(text));
    }
  });

  test('property: bigint -> LSN -> bigint is the identity over 64 bits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (value) => {
        assert.equal(lsnToBigInt(bigIntToLsn(value)), value);
      }),
    );
  });

  test('property: an LSN as Postgres prints it round-trips exactly; lower case reads the same', () => {
    fc.assert(
      fc.property(lsnHalves, fc.boolean(), (halves, lower) => {
        const canonical = lsnText(halves);
        assert.equal(lsnToBigInt(lsnText(halves, lower)), lsnValue(halves));
        assert.equal(bigIntToLsn(lsnToBigInt(lsnText(halves, lower))), canonical);
      }),
    );
  });
});

describe('positions', () => {
  test('known value: fixed-width upper-case hex, LSN then ordinal', () => {
    assert.equal(makePosition('0/16B3748', 1), '00000000016B3748:00000001');
    assert.equal(makePosition('16/b374d848', 255), '00000016B374D848:000000FF');
  });

  test('a snapshot row (ordinal 0) sorts before every streamed change of the same LSN', () => {
    assert.ok(makePosition('0/100', 0) < makePosition('0/100', 1));
    assert.equal(comparePositions(makePosition('0/100', 0), makePosition('0/100', 1)), -1);
  });

  test('LSN order is numeric, not textual', () => {
    // As text, '0/9' > '0/10' and '9/FFFFFFFF' > 'A/0'; as positions, the reverse.
    assert.equal(comparePositions(makePosition('0/9', 7), makePosition('0/10', 1)), -1);
    assert.equal(comparePositions(makePosition('9/FFFFFFFF', 9), makePosition('A/0', 0)), -1);
    assert.equal(comparePositions(makePosition('0/10', 1), makePosition('0/9', 7)), 1);
    // a later LSN wins over any ordinal of an earlier one
    assert.equal(comparePositions(makePosition('0/1', 0xffffffff), makePosition('0/2', 0)), -1);
  });

  test('property: position order is (LSN, ordinal) order, both as text and by comparePositions', () => {
    fc.assert(
      fc.property(lsnHalves, ordinal, lsnHalves, ordinal, fc.boolean(), (lsnA, ordA, lsnB, ordB, lower) => {
        const expected = compareTuples([lsnValue(lsnA), ordA], [lsnValue(lsnB), ordB]);
        const a = makePosition(lsnText(lsnA, lower), ordA);
        const b = makePosition(lsnText(lsnB), ordB);
        assert.equal(comparePositions(a, b), expected);
        assert.equal(comparePositions(b, a), -expected);
        // plain string order (what Postgres text comparison in "C" collation sees) agrees
        assert.equal(a < b ? -1 : a > b ? 1 : 0, expected);
        assert.equal(isNewer(a, b), expected > 0);
      }),
      { numRuns: 500 },
    );
  });

  test('property: close LSNs and ordinals are ordered too', () => {
    // Same-LSN and adjacent-LSN cases are rare in the full-range property above.
    const small = fc.tuple(fc.bigInt({ min: 0n, max: 2n }), fc.bigInt({ min: maxHalf - 2n, max: maxHalf }));
    fc.assert(
      fc.property(small, fc.integer({ min: 0, max: 3 }), small, fc.integer({ min: 0, max: 3 }), (lsnA, ordA, lsnB, ordB) => {
        const expected = compareTuples([lsnValue(lsnA), ordA], [lsnValue(lsnB), ordB]);
        assert.equal(comparePositions(makePosition(lsnText(lsnA), ordA), makePosition(lsnText(lsnB), ordB)), expected);
      }),
    );
  });

  test('property: the LSN of a position is the commit LSN as Postgres prints it', () => {
    fc.assert(
      fc.property(lsnHalves, ordinal, fc.boolean(), (halves, ord, lower) => {
        assert.equal(positionLsn(makePosition(lsnText(halves, lower), ord)), lsnText(halves));
      }),
    );
  });

  test('isNewer: anything is newer than nothing; equal and older are not newer', () => {
    const older = makePosition('0/100', 3);
    const newer = makePosition('0/100', 4);
    assert.equal(isNewer(older, null), true);
    assert.equal(isNewer(newer, older), true);
    assert.equal(isNewer(older, older), false);
    assert.equal(isNewer(older, newer), false);
  });
});
