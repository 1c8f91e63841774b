import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { currencyExponent, isKnownCurrency, majorToMinorUnits, type MinorUnitsResult } from '../../src/domain/currency.js';

/** ISO 4217 minor-unit exponents, written out here independently of the code under test. */
const iso4217: Readonly<Record<string, number>> = {
  JPY: 0,
  KRW: 0,
  CLP: 0,
  ISK: 0,
  EUR: 2,
  USD: 2,
  GBP: 2,
  CHF: 2,
  SEK: 2,
  BHD: 3,
  KWD: 3,
  JOD: 3,
  OMR: 3,
  TND: 3,
};
const knownCodes = Object.keys(iso4217);

function expectMinor(result: MinorUnitsResult, expected: number, label: string): void {
  assert.deepEqual(result, { ok: true, rateMinor: expected }, label);
}

function expectRefused(result: MinorUnitsResult, pattern: RegExp, label: string): void {
  assert.equal(result.ok, false, `${label}: expected a refusal, got ${JSON.stringify(result)}`);
  if (!result.ok) assert.match(result.reason, pattern, label);
}

/** Formats an integer amount of minor units as pg would print a major-unit numeric. */
function formatMajor(minor: bigint, exponent: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent);
  return `${negative ? '-' : ''}${whole}${exponent > 0 ? `.${fraction}` : ''}`;
}

describe('currencyExponent', () => {
  test('knows the ISO 4217 exponents of common currencies', () => {
    for (const [code, exponent] of Object.entries(iso4217)) {
      assert.equal(currencyExponent(code), exponent, code);
      assert.equal(isKnownCurrency(code), true, code);
    }
  });

  test('unknown, lower-case and blank codes are unknown', () => {
    for (const code of ['ZZZ', 'XXX', 'eur', '', 'EURO', 'constructor', 'toString', '__proto__']) {
      assert.equal(currencyExponent(code), undefined, code);
      assert.equal(isKnownCurrency(code), false, code);
    }
  });
});

describe('majorToMinorUnits', () => {
  test('JPY has no minor unit', () => {
    expectMinor(majorToMinorUnits('15000', 'JPY'), 15000, '15000');
    // numeric(12,2) prints two decimals even for JPY
    expectMinor(majorToMinorUnits('15000.00', 'JPY'), 15000, '15000.00');
    expectMinor(majorToMinorUnits('0', 'JPY'), 0, '0');
    expectRefused(majorToMinorUnits('15000.50', 'JPY'), /fraction of a minor unit/, '15000.50');
    expectRefused(majorToMinorUnits('1.01', 'JPY'), /fraction of a minor unit/, '1.01');
  });

  test('EUR, USD and GBP have two decimals', () => {
    for (const currency of ['EUR', 'USD', 'GBP']) {
      expectMinor(majorToMinorUnits('129.50', currency), 12950, `${currency} 129.50`);
      expectMinor(majorToMinorUnits('129.5', currency), 12950, `${currency} 129.5`);
      expectMinor(majorToMinorUnits('129', currency), 12900, `${currency} 129`);
      expectMinor(majorToMinorUnits('0.01', currency), 1, `${currency} 0.01`);
      expectMinor(majorToMinorUnits('0.10', currency), 10, `${currency} 0.10`);
      expectMinor(majorToMinorUnits('129.500', currency), 12950, `${currency} 129.500 (trailing zero)`);
      expectMinor(majorToMinorUnits('9999999999.99', currency), 999999999999, `${currency} numeric(12,2) max`);
      expectRefused(majorToMinorUnits('0.001', currency), /fraction of a minor unit/, `${currency} 0.001`);
      expectRefused(majorToMinorUnits('129.501', currency), /fraction of a minor unit/, `${currency} 129.501`);
    }
  });

  test('BHD and KWD have three decimals', () => {
    for (const currency of ['BHD', 'KWD']) {
      expectMinor(majorToMinorUnits('1.234', currency), 1234, `${currency} 1.234`);
      expectMinor(majorToMinorUnits('12.50', currency), 12500, `${currency} 12.50`);
      expectMinor(majorToMinorUnits('7', currency), 7000, `${currency} 7`);
      expectMinor(majorToMinorUnits('0.001', currency), 1, `${currency} 0.001`);
      expectRefused(majorToMinorUnits('1.2345', currency), /fraction of a minor unit/, `${currency} 1.2345`);
    }
  });

  test('the refusal names the amount, the currency and its decimals', () => {
    const result = majorToMinorUnits('10.005', 'EUR');
    expectRefused(result, /10\.005/, 'amount');
    expectRefused(result, /EUR/, 'currency');
    expectRefused(result, /2 decimals/, 'decimals');
  });

  test('an unknown currency is refused, whatever the amount', () => {
    expectRefused(majorToMinorUnits('10.00', 'ZZZ'), /unknown currency "ZZZ"/, 'ZZZ');
    expectRefused(majorToMinorUnits('10', ''), /unknown currency ""/, 'blank');
    expectRefused(majorToMinorUnits('10', 'eur'), /unknown currency "eur"/, 'lower case is not normalized here');
  });

  test('what is not a plain decimal number is refused', () => {
    for (const amount of ['', 'abc', '1e3', '1.2.3', '12,50', '.5', '5.', 'NaN', 'Infinity', '+5', '0x10']) {
      expectRefused(majorToMinorUnits(amount, 'EUR'), /not a decimal number/, JSON.stringify(amount));
    }
  });

  test('surrounding blanks are tolerated', () => {
    expectMinor(majorToMinorUnits(' 129.50 ', 'EUR'), 12950, 'padded');
  });

  test('negative amounts keep their sign (the mappers refuse them)', () => {
    expectMinor(majorToMinorUnits('-1.25', 'EUR'), -125, '-1.25');
    const zero = majorToMinorUnits('-0.00', 'EUR');
    assert.ok(zero.ok);
    if (zero.ok) assert.ok(Object.is(zero.rateMinor, 0), 'negative zero becomes plain 0');
  });

  test('amounts beyond what a JS number holds exactly are refused', () => {
    expectMinor(majorToMinorUnits('90071992547409.91', 'EUR'), Number.MAX_SAFE_INTEGER, 'max safe');
    expectRefused(majorToMinorUnits('90071992547409.92', 'EUR'), /out of range/, 'max safe + 1');
    expectRefused(majorToMinorUnits('100000000000000000000', 'JPY'), /out of range/, '1e20 JPY');
  });

  test('property: minor units -> major decimal string -> minor units is the identity', () => {
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    fc.assert(
      fc.property(fc.bigInt({ min: -safe, max: safe }), fc.constantFrom(...knownCodes), (minor, currency) => {
        const exponent = iso4217[currency];
        assert.ok(exponent !== undefined);
        const text = formatMajor(minor, exponent);
        expectMinor(majorToMinorUnits(text, currency), Number(minor), `${text} ${currency}`);
      }),
      { numRuns: 500 },
    );
  });

  test('property: trailing zeros never change the value', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.constantFrom(...knownCodes),
        fc.integer({ min: 1, max: 6 }),
        (minor, currency, zeros) => {
          const exponent = iso4217[currency];
          assert.ok(exponent !== undefined);
          const base = formatMajor(minor, exponent);
          const padded = `${base}${exponent === 0 ? '.' : ''}${'0'.repeat(zeros)}`;
          expectMinor(majorToMinorUnits(padded, currency), Number(minor), `${padded} ${currency}`);
        },
      ),
    );
  });

  test('property: a non-zero digit past the minor unit is always refused', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.constantFrom(...knownCodes),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 9 }),
        (minor, currency, zeros, digit) => {
          const exponent = iso4217[currency];
          assert.ok(exponent !== undefined);
          const base = formatMajor(minor, exponent);
          const finer = `${base}${exponent === 0 ? '.' : ''}${'0'.repeat(zeros)}${digit}`;
          expectRefused(majorToMinorUnits(finer, currency), /fraction of a minor unit/, `${finer} ${currency}`);
        },
      ),
    );
  });
});
