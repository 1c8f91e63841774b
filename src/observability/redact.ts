/**
 * Keeps secrets out of logs, errors and activity payloads: database passwords in URLs, the
 * PagerDuty routing key, webhook URLs that carry tokens. Three layers, each cheap:
 *  - every string is scrubbed of URL passwords (`scheme://user:secret@host`), libpq
 *    `password=` pairs and secret-looking query parameters (`?token=…`);
 *  - fields whose name says secret (password, routingKey, token, authorization, …) are
 *    replaced whole, at any depth;
 *  - values the configuration knows are secret (the routing key, each webhook URL, each
 *    database password) are registered once at start-up and replaced wherever they appear.
 * Pure apart from the registry of known secrets; no I/O.
 */

export const redacted = '[redacted]';

/** `scheme://user:password@` → `scheme://user:***@` (the user stays: it helps, and is not a secret). */
const urlPassword = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*):[^\s@/'"]*@/gi;
/** libpq key/value connection strings: `password=secret`, `password='secret value'`. */
const dsnPassword = /\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi;
/** Query parameters that carry credentials in webhook URLs. */
const secretQuery = /([?&](?:token|access_token|auth|auth_token|api_key|apikey|key|secret|sig|signature|password|pass|routing_key|code)=)[^&#\s'"]+/gi;

/** Field names whose value is a secret, whatever it looks like. */
const secretKey = /^(?:password|passwd|pass|secret|token|access_?token|api_?key|routing_?key|authorization|auth|cookie|private_?key|client_?secret)$/i;

const knownSecrets = new Map<string, string>();

/** Values to replace wherever they appear (shorter than 6 characters is too likely a false match). */
export function registerSecrets(values: Iterable<{ readonly value: string; readonly replacement?: string }>): void {
  for (const { value, replacement } of values) {
    if (value.length < 6) continue;
    knownSecrets.set(value, replacement ?? redacted);
  }
}

/** For tests: forget every registered secret. */
export function clearRegisteredSecrets(): void {
  knownSecrets.clear();
}

/** A URL for a person to read: scheme, host and port, with the path, query and credentials left out. */
export function describeUrl(value: string): string {
  try {
    const url = new URL(value);
    const path = url.pathname !== '/' || url.search !== '' ? '/…' : '';
    return `${url.protocol}//${url.host}${path}`;
  } catch {
    return redacted;
  }
}

export function scrubString(text: string): string {
  let result = text;
  // Longest first, so a URL is replaced whole before a secret inside it is.
  for (const [secret, replacement] of [...knownSecrets].sort(([a], [b]) => b.length - a.length)) {
    if (result.includes(secret)) result = result.split(secret).join(replacement);
  }
  return result.replace(urlPassword, '$1:***@').replace(dsnPassword, '$1***').replace(secretQuery, '$1***');
}

/** A copy of `value` safe to log: strings scrubbed, secret-named fields replaced, errors reduced to their messages. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[nested too deep]';
  if (value instanceof Error) return scrubString(describeError(value));
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = secretKey.test(key) && field !== null && field !== undefined ? redacted : redactValue(field, depth + 1);
  return copy;
}

export function describeError(error: Error): string {
  return error.cause instanceof Error ? `${error.message} (cause: ${error.cause.message})` : error.message;
}
