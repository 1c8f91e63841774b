/**
 * A change's position in its source's log, totally ordered within that source.
 * Several changes share one commit LSN, so the position is the commit LSN plus the
 * change's ordinal inside its transaction. Snapshot rows sit at ordinal 0 of the
 * slot's consistent point, before every streamed change (ordinals start at 1).
 * Fixed-width hex makes the string order the log order, so Postgres and JS compare alike.
 */
export type Position = string;

const lsnPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function lsnToBigInt(lsn: string): bigint {
  const match = lsnPattern.exec(lsn);
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function bigIntToLsn(value: bigint): string {
  const high = (value >> 32n).toString(16).toUpperCase();
  const low = (value & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

export function makePosition(commitLsn: string, ordinal: number): Position {
  const lsn = lsnToBigInt(commitLsn).toString(16).toUpperCase().padStart(16, '0');
  return `${lsn}:${ordinal.toString(16).toUpperCase().padStart(8, '0')}`;
}

export function positionLsn(position: Position): string {
  const [lsnHex = ''] = position.split(':');
  return bigIntToLsn(BigInt(`0x${lsnHex}`));
}

export function comparePositions(a: Position, b: Position): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isNewer(candidate: Position, stored: Position | null): boolean {
  return stored === null || candidate > stored;
}
