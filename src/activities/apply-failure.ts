import { ApplicationFailure } from '@temporalio/activity';

import { roomApplyFailedType } from '../domain/failure-types.js';

// SQLSTATE classes that say the store, not the room, is the problem: connection (08),
// rollback (40: serialization, deadlock), resources (53: disk full, out of memory),
// operator intervention (57: shutdown, cancel), and a read-only or locked database.
const unavailableClasses = new Set(['08', '40', '53', '57']);
const unavailableCodes = new Set(['25006', '55P03', '55000', 'XX000']);
const unavailableNodeCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
const unavailableMessages = [/connection terminated/i, /timeout exceeded when trying to connect/i, /client has encountered a connection error/i, /Connection ended/i];

function codeOf(error: unknown): string | null {
  if (error === null || typeof error !== 'object' || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}

/**
 * True when the unified store itself is unavailable: every room would fail alike, so the
 * apply keeps retrying (lag pages) instead of quarantining rooms that did nothing wrong.
 */
export function isStoreUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const code = codeOf(current);
    if (code !== null && (unavailableNodeCodes.has(code) || unavailableCodes.has(code) || (code.length === 5 && unavailableClasses.has(code.slice(0, 2))))) {
      return true;
    }
    const message = current instanceof Error ? current.message : '';
    if (unavailableMessages.some((pattern) => pattern.test(message))) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = codeOf(error);
  return code !== null && !message.includes(code) ? `${message} (${code})` : message;
}

/**
 * What the apply throws: a room-specific failure becomes non-retryable once it has been
 * tried `quarantineAfterAttempts` times; anything else is retried by Temporal as usual.
 */
export function applyFailure(error: unknown, attempt: number, quarantineAfterAttempts: number | undefined): unknown {
  if (quarantineAfterAttempts === undefined || isStoreUnavailable(error) || attempt < quarantineAfterAttempts) return error;
  return ApplicationFailure.create({
    type: roomApplyFailedType,
    nonRetryable: true,
    message: `apply failed ${attempt} times: ${describeError(error)}`,
    ...(error instanceof Error ? { cause: error } : {}),
  });
}
