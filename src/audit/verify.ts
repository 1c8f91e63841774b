import { sql, type Kysely, type Transaction } from 'kysely';
import type { UnifiedDatabase } from '../db/schema.js';
import { roomKeyText } from '../domain/room.js';
import { auditRowHash, chainGenesis, type ChainedAuditContent } from './chain.js';
import type { AuditDigest, RoomHead } from './digest.js';

/**
 * `room-sync audit verify`: walks every room's chain of conflict_audit in id order and
 * recomputes each row's hash from its content and its prev_hash. A row is
 * - altered: its content (or a hash column) no longer hashes to its row_hash;
 * - missing: the row after it names, as its prev_hash, a row that is not in the log;
 * - out of order: its prev_hash names a row of its room that is not the one before it.
 * Rows written before the chain existed (both hashes NULL) are "not chained" while they
 * precede every chained row of their room; a NULL-hash row after a chained one is altered.
 * With a digest (src/audit/digest.ts) it also proves the log extends it: each room's head
 * row of the digest is still at the same position of its chain. Each room's chain head as the
 * apply keeps it (room_sources.chain_head) must be the end of its chain: a removed tail, or a
 * head edited behind the apply's back (it would continue the chain from there), is a
 * `stored-head` problem.
 *
 * Rows stream by keyset pagination over (hotel_code, room_code, id), the chain index, inside
 * one REPEATABLE READ transaction: one snapshot, constant memory per room, any number of rows.
 */

export type ProblemKind = 'altered' | 'missing' | 'out-of-order' | 'truncated' | 'rewritten' | 'stored-head';

export interface ChainProblem {
  readonly kind: ProblemKind;
  /** The row named: the one altered, missing or out of order (for a truncated tail, the digest's head row). */
  readonly id: string;
  readonly hotel_code: string;
  readonly room_code: string;
  readonly detail: string;
}

/** One conflict_audit row as the walk reads it. */
export interface StoredAuditRow extends ChainedAuditContent {
  readonly id: string;
  readonly prev_hash: string | null;
  readonly row_hash: string | null;
  /** False when resolved_at carries more than milliseconds: the apply writes milliseconds, so it was edited. */
  readonly resolvedAtExact: boolean;
  /** The archive file the row was read from; undefined for a live row. */
  readonly archiveFile?: string;
}

/** A link that does not hold: `row.prev_hash` is not the hash of the row before it. Classified against the database. */
export interface LinkBreak {
  readonly row: StoredAuditRow;
  /** The room's row before it, null when it is the room's first. */
  readonly previousId: string | null;
}

/**
 * One room's chain, fed its rows in id order. Pure: what needs the database (what a broken
 * link points at) comes back as a LinkBreak for the caller to classify and `fail` with.
 */
export class RoomChain {
  rows = 0;
  chainedRows = 0;
  unchainedRows = 0;
  problem: ChainProblem | null = null;
  private prev: string = chainGenesis;
  private chained = false;
  private lastId: string | null = null;
  private lastHash: string | null = null;
  /** A LinkBreak was handed out: the rest of the room waits for its classification, not checked. */
  private broken = false;

  constructor(
    readonly hotelCode: string,
    readonly roomCode: string,
    /** The room as a digest saw it: checked when the walk reaches its position. */
    readonly expected: RoomHead | null = null,
    /** Where the room's live rows continue from: its head in the archived months (`audit archive`), not walked here. */
    readonly start: RoomHead | null = null,
  ) {
    if (start === null) return;
    this.rows = start.rows;
    this.lastId = start.head_id;
    this.lastHash = start.head;
    if (start.head !== null) {
      this.prev = start.head;
      this.chained = true;
    }
    // A digest position inside the archived months is checked by `audit verify --archive`; the archived head itself here.
    if (expected && expected.rows === start.rows && expected.head !== start.head) {
      this.fail('rewritten', start.head_id, `its archived head #${start.head_id} is not the digest's head #${expected.head_id}: the chain was rewritten since the digest`);
    }
  }

  /** Checks the next row; a LinkBreak when only the database can tell what broke the link. */
  add(row: StoredAuditRow): LinkBreak | null {
    this.rows += 1;
    const previousId = this.lastId;
    this.lastId = row.id;
    this.lastHash = row.row_hash;
    if (this.problem || this.broken) return null;
    const brk = this.check(row, previousId);
    if (brk) this.broken = true;
    else if (!this.problem) this.checkDigestPosition(row);
    return brk;
  }

  private check(row: StoredAuditRow, previousId: string | null): LinkBreak | null {
    if (row.prev_hash === null && row.row_hash === null) {
      if (!this.chained) {
        this.unchainedRows += 1;
        return null;
      }
      return this.fail('altered', row.id, `its hashes are NULL, yet it comes after chained row #${previousId ?? '?'}`);
    }
    this.chained = true;
    this.chainedRows += 1;
    if (row.prev_hash === null || row.row_hash === null) return this.fail('altered', row.id, `one of its hashes is NULL (prev_hash ${row.prev_hash ?? 'NULL'}, row_hash ${row.row_hash ?? 'NULL'})`);
    if (!row.resolvedAtExact) return this.fail('altered', row.id, 'its resolved_at carries more than the milliseconds the apply wrote');
    if (auditRowHash(row, row.prev_hash) !== row.row_hash) {
      return this.fail('altered', row.id, 'its content and prev_hash do not hash to its row_hash');
    }
    const expectedPrev = this.prev;
    this.prev = row.row_hash;
    if (row.prev_hash !== expectedPrev) return { row, previousId };
    return null;
  }

  private checkDigestPosition(row: StoredAuditRow): void {
    if (!this.expected || this.rows !== this.expected.rows) return;
    if (row.row_hash !== this.expected.head) {
      this.fail(
        'rewritten',
        row.id,
        `it is row ${this.rows} of the room, where the digest has its head #${this.expected.head_id} (${this.expected.head ?? 'not chained'}): the chain was rewritten since the digest`,
      );
    }
  }

  /** Records the room's first problem (later ones are consequences of it) and stops checking the room. */
  fail(kind: ProblemKind, id: string, detail: string): null {
    this.problem ??= { kind, id, hotel_code: this.hotelCode, room_code: this.roomCode, detail };
    return null;
  }

  /** After the room's last row: a digest position the room no longer reaches is a truncated tail. */
  finish(): void {
    if (this.problem || this.broken || !this.expected || this.rows >= this.expected.rows) return;
    const lost = this.expected.rows - this.rows;
    this.fail(
      'truncated',
      this.expected.head_id,
      `the room has ${this.rows} row(s), the digest saw ${this.expected.rows}: its head #${this.expected.head_id}${lost > 1 ? ` and the ${lost - 1} row(s) before it` : ''} are missing (the tail was removed)`,
    );
  }

  /** The end of the walked chain must be the head the apply continues from (room_sources.chain_head). */
  checkStoredHead(stored: string | null): void {
    if (this.problem || this.broken) return;
    const end = this.lastId === null ? null : this.lastHash;
    if (end === stored) return;
    const where = this.lastId === null ? 'the room has no audit row' : `its last row is #${this.lastId} (${end ?? 'not chained'})`;
    this.fail(
      'stored-head',
      this.lastId ?? '0',
      `the chain head the apply continues from (room_sources.chain_head ${stored ?? 'NULL'}) is not the end of the room's chain: ${where}; rows were removed from its tail, or the stored head was edited`,
    );
  }

  head(): RoomHead | null {
    if (this.lastId === null) return null;
    return { hotel_code: this.hotelCode, room_code: this.roomCode, rows: this.rows, head: this.lastHash, head_id: this.lastId };
  }
}

/** A link that does not hold, explained: which row it points at (out of order), or which ids are gone (missing). */
async function classifyLinkBreak(trx: Transaction<UnifiedDatabase>, chain: RoomChain, brk: LinkBreak): Promise<void> {
  const { row, previousId } = brk;
  if (row.archiveFile !== undefined) {
    // Its neighbours are in files, not in the table the lookups below read.
    chain.fail(
      'missing',
      row.id,
      `in ${row.archiveFile}: its prev_hash is not the hash of the room's row before it (${previousId === null ? 'none: it is the first' : `#${previousId}`}): a row before it is missing, or rows were reordered`,
    );
    return;
  }
  const pointedAt = await sql<{ id: string }>`
    SELECT id::text AS id FROM conflict_audit
     WHERE hotel_code = ${row.hotel_code} AND room_code = ${row.room_code} AND row_hash = ${row.prev_hash}
     ORDER BY conflict_audit.id LIMIT 1`.execute(trx);
  const predecessor = pointedAt.rows[0]?.id;
  if (predecessor !== undefined) {
    chain.fail(
      'out-of-order',
      row.id,
      `its prev_hash is the hash of row #${predecessor}, which ${BigInt(predecessor) > BigInt(row.id) ? 'comes after it' : 'is not the row before it'}${previousId === null ? '' : ` (the row before it is #${previousId})`}: rows were reordered`,
    );
    return;
  }
  // The row it names is gone. Ids come from one sequence, so a removed row leaves an id no row has.
  const lower = previousId ?? '0';
  const gaps = await sql<{ gap_from: string; gap_to: string }>`
    SELECT (prev_id + 1)::text AS gap_from, (id - 1)::text AS gap_to FROM (
      SELECT id, lag(id, 1, ${lower}::bigint) OVER (ORDER BY id) AS prev_id
        FROM conflict_audit WHERE id > ${lower}::bigint AND id <= ${row.id}::bigint) s
     WHERE id > prev_id + 1 ORDER BY id LIMIT 10`.execute(trx);
  const ranges = gaps.rows.map((gap) => (gap.gap_from === gap.gap_to ? gap.gap_from : `${gap.gap_from}-${gap.gap_to}`));
  const between = previousId === null ? `before #${row.id}, the room's first row` : `between #${previousId} and #${row.id}`;
  const first = gaps.rows[0];
  if (first === undefined) {
    // No id is free there: nothing was removed; the row before it was edited and re-hashed.
    if (previousId !== null) {
      chain.fail('altered', previousId, `it was re-hashed: row #${row.id}, next in its chain, links to a different hash (${row.prev_hash ?? 'NULL'})`);
    } else {
      chain.fail('altered', row.id, `it is the room's first row, yet its prev_hash is not the genesis hash`);
    }
    return;
  }
  const single = gaps.rows.length === 1 && first.gap_from === first.gap_to;
  chain.fail(
    'missing',
    first.gap_from,
    single
      ? `row #${first.gap_from} was removed: row #${row.id} links to a row no longer in the log, and #${first.gap_from} is the one id free ${between}`
      : `a row was removed ${between}: row #${row.id} links to a row no longer in the log; ids free there: ${ranges.join(', ')}${gaps.rows.length === 10 ? ', …' : ''} (some may never have been used)`,
  );
}

export interface VerifyProgress {
  readonly rows: number;
  readonly rooms: number;
  readonly elapsedMs: number;
}

export interface VerifyOptions {
  /** Also prove the log extends this digest. */
  readonly digest?: AuditDigest;
  /** Rows per page of the walk. */
  readonly pageSize?: number;
  /** Called after every page. */
  readonly onProgress?: (progress: VerifyProgress) => void;
  /** Keep every room's head (for `audit digest`): memory in proportion to the rooms. */
  readonly collectHeads?: boolean;
  /**
   * The archived months' rows (`audit verify --archive`), oldest month first, each month in
   * (hotel_code, room_code, id) order: walked before the live rows, whose chains they start.
   * Without it, each room's live chain starts from its archived head (conflict_audit_archived_heads).
   */
  readonly archive?: AsyncIterable<StoredAuditRow>;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly rows: number;
  readonly rooms: number;
  readonly chainedRows: number;
  /** Rows written before the chain existed, ahead of their room's chained rows. */
  readonly unchainedRows: number;
  /** At most one per room (the first), lowest id first. */
  readonly problems: readonly ChainProblem[];
  /** The problem with the lowest row id: what verify reports first. */
  readonly first: ChainProblem | null;
  /** Every room's head, when asked for (`collectHeads`). */
  readonly heads: readonly RoomHead[];
  /** The digest checked, when one was given. */
  readonly digest: { readonly fingerprint: string; readonly takenAt: string; readonly rooms: number; readonly rows: number } | null;
  readonly elapsedMs: number;
}

/** A conflict_audit row as read for the walk: resolved_at as `YYYY-MM-DDTHH:MI:SS.US` in UTC. */
export interface WalkRow {
  id: string;
  hotel_code: string;
  room_code: string;
  field: string;
  legacy_value: unknown;
  cloud_value: unknown;
  winning_value: unknown;
  winning_source: string;
  rule: string;
  policy_version: string;
  resolved_at_us: string;
  hotel_class: string;
  legacy_position: string | null;
  legacy_hotel_position: string | null;
  cloud_position: string | null;
  trigger_source: string;
  trigger_position: string;
  prev_hash: string | null;
  row_hash: string | null;
}

/** `2026-12-01T10:00:00.123456` (UTC, microseconds) to the hash's `2026-12-01T10:00:00.123Z`. */
export function storedRow(row: WalkRow): StoredAuditRow {
  const [seconds = '', micros = ''] = row.resolved_at_us.split('.');
  return {
    id: row.id,
    hotel_code: row.hotel_code,
    room_code: row.room_code,
    field: row.field,
    legacy_value: row.legacy_value,
    cloud_value: row.cloud_value,
    winning_value: row.winning_value,
    winning_source: row.winning_source,
    rule: row.rule,
    policy_version: row.policy_version,
    resolved_at: `${seconds}.${micros.slice(0, 3)}Z`,
    hotel_class: row.hotel_class,
    legacy_position: row.legacy_position,
    legacy_hotel_position: row.legacy_hotel_position,
    cloud_position: row.cloud_position,
    trigger_source: row.trigger_source,
    trigger_position: row.trigger_position,
    prev_hash: row.prev_hash,
    row_hash: row.row_hash,
    resolvedAtExact: micros.length === 6 && micros.endsWith('000'),
  };
}

async function readPage(trx: Transaction<UnifiedDatabase>, after: WalkRow | null, pageSize: number): Promise<WalkRow[]> {
  const where = after === null ? sql`` : sql`WHERE (hotel_code, room_code, id) > (${after.hotel_code}, ${after.room_code}, ${after.id}::bigint)`;
  const { rows } = await sql<WalkRow>`
    SELECT id::text AS id, hotel_code, room_code, field, legacy_value, cloud_value, winning_value, winning_source, rule, policy_version,
           to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS resolved_at_us,
           hotel_class, legacy_position, legacy_hotel_position, cloud_position, trigger_source, trigger_position, prev_hash, row_hash
      FROM conflict_audit
      ${where}
     -- conflict_audit.id, the bigint: a bare id would be the text column of the select list.
     ORDER BY hotel_code, room_code, conflict_audit.id
     LIMIT ${pageSize}`.execute(trx);
  return rows;
}

const digestKey = (hotelCode: string, roomCode: string) => `${hotelCode}\u0000${roomCode}`;

/** Each room's chain head as the apply keeps it in room_sources (NULL: no chained row yet), for every room that has a row. */
async function storedChainHeads(trx: Transaction<UnifiedDatabase>): Promise<Map<string, string | null>> {
  const { rows } = await sql<{ hotel_code: string; room_code: string; chain_head: string | null }>`
    SELECT hotel_code, room_code, chain_head FROM room_sources`.execute(trx);
  return new Map(rows.map((row) => [digestKey(row.hotel_code, row.room_code), row.chain_head]));
}

/** Each room's head at the end of its archived months: where its live chain continues. */
async function archivedHeads(trx: Transaction<UnifiedDatabase>): Promise<Map<string, RoomHead>> {
  const { rows } = await sql<{ hotel_code: string; room_code: string; rows: string; head: string | null; head_id: string }>`
    SELECT hotel_code, room_code, sum(rows)::text AS rows,
           (array_agg(head_hash ORDER BY head_id DESC))[1] AS head, max(head_id)::text AS head_id
      FROM conflict_audit_archived_heads GROUP BY hotel_code, room_code`.execute(trx);
  return new Map(
    rows.map((row) => [digestKey(row.hotel_code, row.room_code), { hotel_code: row.hotel_code, room_code: row.room_code, rows: Number(row.rows), head: row.head, head_id: row.head_id }]),
  );
}

export async function verifyAuditLog(db: Kysely<UnifiedDatabase>, options: VerifyOptions = {}): Promise<VerifyResult> {
  const started = Date.now();
  const pageSize = options.pageSize ?? 5_000;
  const expected = new Map<string, RoomHead>((options.digest?.rooms ?? []).map((room) => [digestKey(room.hotel_code, room.room_code), room]));
  const problems: ChainProblem[] = [];
  const heads: RoomHead[] = [];
  let rows = 0;
  let rooms = 0;
  let chainedRows = 0;
  let unchainedRows = 0;

  /** Each room's chain head as the apply keeps it; a room is removed once its chain was compared with it. */
  let storedHeads = new Map<string, string | null>();
  const finishRoom = (chain: RoomChain) => {
    chain.finish();
    const key = digestKey(chain.hotelCode, chain.roomCode);
    // A room with no room_sources row has no stored head: its first apply reads the chain itself.
    if (storedHeads.has(key)) chain.checkStoredHead(storedHeads.get(key) ?? null);
    storedHeads.delete(key);
    rooms += 1;
    chainedRows += chain.chainedRows;
    unchainedRows += chain.unchainedRows;
    if (chain.problem) problems.push(chain.problem);
    const head = chain.head();
    if (options.collectHeads && head) heads.push(head);
  };
  /** Rooms whose chain began before the live rows (archived), waiting for their live rows. */
  const begun = new Map<string, RoomChain>();
  const chainFor = (hotelCode: string, roomCode: string, start: RoomHead | null = null): RoomChain => {
    const key = digestKey(hotelCode, roomCode);
    const chain = new RoomChain(hotelCode, roomCode, expected.get(key) ?? null, start);
    expected.delete(key);
    return chain;
  };
  const report = (current: number) => options.onProgress?.({ rows, rooms: rooms + begun.size + current, elapsedMs: Date.now() - started });

  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      storedHeads = await storedChainHeads(trx);
      if (options.archive) {
        for await (const row of options.archive) {
          const key = digestKey(row.hotel_code, row.room_code);
          let chain = begun.get(key);
          if (chain === undefined) {
            chain = chainFor(row.hotel_code, row.room_code);
            begun.set(key, chain);
          }
          rows += 1;
          const brk = chain.add(row);
          if (brk) await classifyLinkBreak(trx, chain, brk);
          if (rows % pageSize === 0) report(0);
        }
      } else {
        for (const [key, start] of await archivedHeads(trx)) begun.set(key, chainFor(start.hotel_code, start.room_code, start));
      }
      let chain: RoomChain | null = null;
      let last: WalkRow | null = null;
      for (;;) {
        const page = await readPage(trx, last, pageSize);
        for (const raw of page) {
          if (chain === null || chain.hotelCode !== raw.hotel_code || chain.roomCode !== raw.room_code) {
            if (chain) finishRoom(chain);
            const key = digestKey(raw.hotel_code, raw.room_code);
            chain = begun.get(key) ?? chainFor(raw.hotel_code, raw.room_code);
            begun.delete(key);
          }
          rows += 1;
          const brk = chain.add(storedRow(raw));
          if (brk) await classifyLinkBreak(trx, chain, brk);
        }
        last = page.at(-1) ?? last;
        report(chain ? 1 : 0);
        if (page.length < pageSize) break;
      }
      if (chain) finishRoom(chain);
      // Rooms whose rows are all archived.
      for (const archived of begun.values()) finishRoom(archived);
      // Rooms with a stored head and no row at all, live or archived.
      for (const [key, stored] of storedHeads) {
        if (stored === null) continue;
        const [hotelCode = '', roomCode = ''] = key.split('\u0000');
        const orphan = new RoomChain(hotelCode, roomCode);
        orphan.checkStoredHead(stored);
        if (orphan.problem) problems.push(orphan.problem);
      }
    });

  // Rooms the digest has and the log no longer has at all.
  for (const room of expected.values()) {
    const chain = new RoomChain(room.hotel_code, room.room_code, room);
    chain.finish();
    if (chain.problem) problems.push(chain.problem);
  }
  problems.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
  const digest = options.digest
    ? { fingerprint: options.digest.fingerprint, takenAt: options.digest.taken_at, rooms: options.digest.room_count, rows: options.digest.rows }
    : null;
  return { ok: problems.length === 0, rows, rooms, chainedRows, unchainedRows, problems, first: problems[0] ?? null, heads, digest, elapsedMs: Date.now() - started };
}

export function describeProblem(problem: ChainProblem): string {
  return `audit row ${problem.id} ${problem.kind} (room ${roomKeyText({ hotelCode: problem.hotel_code, roomCode: problem.room_code })}): ${problem.detail}`;
}
