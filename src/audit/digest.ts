import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * A digest of conflict_audit for an auditor to keep outside the database: every room's chain
 * head (the newest row's hash) and its row count, and a short fingerprint over them.
 *
 * `room-sync audit digest` prints the document (JSON); its fingerprint `v1:<rows>:<sha256 hex>`
 * is small enough to write down, mail or put in a ticket. `audit verify --digest FILE` later
 * proves the log still extends it: each room still has the digest's head row at the same
 * position of its chain (so its first `rows` rows are the ones the digest saw), whatever has
 * been appended since. A truncated tail, a rewritten chain or a room gone fail it. The
 * fingerprint ties the document to what the auditor kept: verify prints it, and refuses a
 * document whose rooms do not hash to its own fingerprint.
 *
 * Fingerprint: sha256 hex over one line per room, sorted, `HOTEL/ROOM:HEAD:ROWS\n` (codes
 * percent-encoded, HEAD `-` for a room whose rows predate the chain), prefixed `v1:<total rows>:`.
 */
export const digestFormat = 'room-sync audit digest v1';

export interface RoomHead {
  readonly hotel_code: string;
  readonly room_code: string;
  /** The room's rows in the log, pre-chain rows included: the head's position in its chain (1-based). */
  readonly rows: number;
  /** row_hash of the room's newest row; null when every row of the room predates the chain. */
  readonly head: string | null;
  /** The id of that newest row, to name it if it goes missing. */
  readonly head_id: string;
}

export interface AuditDigest {
  readonly format: typeof digestFormat;
  readonly fingerprint: string;
  readonly taken_at: string;
  readonly rows: number;
  readonly room_count: number;
  readonly rooms: readonly RoomHead[];
}

function roomLine(room: RoomHead): string {
  return `${encodeURIComponent(room.hotel_code)}/${encodeURIComponent(room.room_code)}:${room.head ?? '-'}:${room.rows}`;
}

export function digestFingerprint(rooms: readonly RoomHead[]): string {
  const lines = rooms.map(roomLine).sort();
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  const rows = rooms.reduce((sum, room) => sum + room.rows, 0);
  return `v1:${rows}:${hash.digest('hex')}`;
}

export function buildDigest(rooms: readonly RoomHead[], takenAt: Date): AuditDigest {
  const sorted = [...rooms].sort((a, b) => (roomLine(a) < roomLine(b) ? -1 : 1));
  return {
    format: digestFormat,
    fingerprint: digestFingerprint(sorted),
    taken_at: takenAt.toISOString(),
    rows: sorted.reduce((sum, room) => sum + room.rows, 0),
    room_count: sorted.length,
    rooms: sorted,
  };
}

/** The document as `audit digest` prints it: one room per line, so two digests diff well. */
export function formatDigest(digest: AuditDigest): string {
  const { rooms, ...header } = digest;
  const head = JSON.stringify(header, null, 2).replace(/\n}$/, '');
  const body = rooms.map((room) => `    ${JSON.stringify(room)}`).join(',\n');
  return `${head},\n  "rooms": [${rooms.length > 0 ? `\n${body}\n  ` : ''}]\n}`;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex');
const digestSchema = z.object({
  format: z.literal(digestFormat),
  fingerprint: z.string().regex(/^v1:\d+:[0-9a-f]{64}$/),
  taken_at: z.string(),
  rows: z.number().int().min(0),
  room_count: z.number().int().min(0),
  rooms: z.array(
    z.object({
      hotel_code: z.string(),
      room_code: z.string(),
      rows: z.number().int().min(1),
      head: hex64.nullable(),
      head_id: z.string().regex(/^\d+$/),
    }),
  ),
});

export class DigestError extends Error {
  override readonly name = 'DigestError';
}

/** A digest document from its JSON; refused when malformed or when its rooms do not hash to its fingerprint. */
export function parseDigest(json: string, origin: string): AuditDigest {
  let content: unknown;
  try {
    content = JSON.parse(json);
  } catch (error) {
    throw new DigestError(`${origin} is not JSON: ${(error as Error).message}`);
  }
  const parsed = digestSchema.safeParse(content);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new DigestError(`${origin} is not an audit digest (${digestFormat}): ${problems.join('; ')}`);
  }
  const digest = parsed.data;
  const recomputed = digestFingerprint(digest.rooms);
  if (recomputed !== digest.fingerprint) {
    throw new DigestError(`${origin}: its rooms hash to ${recomputed}, not to its fingerprint ${digest.fingerprint}: the document was edited`);
  }
  const rows = digest.rooms.reduce((sum, room) => sum + room.rows, 0);
  if (rows !== digest.rows || digest.rooms.length !== digest.room_count) {
    throw new DigestError(`${origin}: its totals (${digest.rows} rows, ${digest.room_count} rooms) do not add up (${rows} rows, ${digest.rooms.length} rooms): the document was edited`);
  }
  const keys = new Set(digest.rooms.map((room) => `${room.hotel_code}\u0000${room.room_code}`));
  if (keys.size !== digest.rooms.length) throw new DigestError(`${origin}: a room is listed twice`);
  return digest;
}
