/**
 * ISO 4217 minor-unit exponents. A currency missing here is "unknown" and its rows
 * go to the dead-letter table rather than being guessed at.
 */
const exponents: Readonly<Record<string, number>> = {
  // no minor units
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0,
  UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  // three minor digits
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  // four
  CLF: 4, UYW: 4,
  // two (the common case)
  AED: 2, ARS: 2, AUD: 2, BGN: 2, BRL: 2, CAD: 2, CHF: 2, CNY: 2, COP: 2, CZK: 2,
  DKK: 2, EGP: 2, EUR: 2, GBP: 2, HKD: 2, HUF: 2, IDR: 2, ILS: 2, INR: 2, MAD: 2,
  MXN: 2, MYR: 2, NOK: 2, NZD: 2, PEN: 2, PHP: 2, PLN: 2, QAR: 2, RON: 2, RSD: 2,
  SAR: 2, SEK: 2, SGD: 2, THB: 2, TRY: 2, TWD: 2, UAH: 2, USD: 2, ZAR: 2,
};

export function currencyExponent(currency: string): number | undefined {
  // Own keys only: "constructor" and friends are not currencies.
  return Object.hasOwn(exponents, currency) ? exponents[currency] : undefined;
}

export function isKnownCurrency(currency: string): boolean {
  return currencyExponent(currency) !== undefined;
}

export type MinorUnitsResult =
  | { readonly ok: true; readonly rateMinor: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Converts a decimal string in major units (as Postgres numeric arrives) to integer
 * minor units without floating point: "129.50" EUR -> 12950, "15000" JPY -> 15000.
 * A value finer than the currency's minor unit cannot be represented and is refused.
 */
export function majorToMinorUnits(amount: string, currency: string): MinorUnitsResult {
  const exponent = currencyExponent(currency);
  if (exponent === undefined) return { ok: false, reason: `unknown currency ${JSON.stringify(currency)}` };
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!match) return { ok: false, reason: `rate ${JSON.stringify(amount)} is not a decimal number` };
  const [, sign = '', whole = '0', fraction = ''] = match;
  const significant = fraction.replace(/0+$/, '');
  if (significant.length > exponent) {
    return { ok: false, reason: `rate ${amount} ${currency} has a fraction of a minor unit (${currency} has ${exponent} decimals)` };
  }
  const minor = BigInt(whole + significant.padEnd(exponent, '0')) * (sign === '-' ? -1n : 1n);
  if (minor > BigInt(Number.MAX_SAFE_INTEGER) || minor < -BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, reason: `rate ${amount} ${currency} is out of range` };
  }
  return { ok: true, rateMinor: Number(minor) };
}
