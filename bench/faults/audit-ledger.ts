import type pg from 'pg';
import type { SourceName } from '../../src/domain/room.js';
import type { AttemptedChange } from './workload.js';

/** What the availability audit rows say about the attempted changes so far. */
export interface LedgerCounts {
  readonly committed: number;
  /** Committed changes with their audit row. */
  readonly applied: number;
  /** Committed changes without one (yet, while the pipeline catches up). */
  readonly missing: number;
  readonly auditRows: number;
  /** Rows beyond the first for one room, field and triggering source position. */
  readonly duplicated: number;
  /** Rows of attempts whose statement failed but committed all the same (a crash mid-commit): neither lost nor duplicated. */
  readonly uncertainApplied: number;
  /** Rows matching no attempt at all: a defect of the pipeline or of this harness. */
  readonly unexpected: number;
}

interface AuditRow {
  readonly hotel_code: string;
  readonly room_code: string;
  readonly trigger_source: SourceName;
  readonly trigger_position: string;
  readonly legacy_value: unknown;
  readonly cloud_value: unknown;
  readonly resolved_us: string;
}

/** Ids are taken when a row is inserted, not when its transaction commits: a poll reads this far back again. */
const commitOrderSlack = 2_000;

/**
 * Reads conflict_audit's availability rows as they are appended (by id, so a poll costs
 * only the rows near the end) and matches each to the change that triggered it: the
 * triggering source's value is unique per room and source (see FaultWorkload).
 */
export class AuditLedger {
  private lastId = 0;
  private readonly seenIds = new Set<string>();
  /** room/source/value → when its first audit row was resolved, µs on the database clock. */
  private readonly firstResolved = new Map<string, number>();
  private readonly positions = new Set<string>();
  private rows = 0;
  private duplicates = 0;

  constructor(private readonly unified: pg.Pool) {}

  static changeKey(hotelCode: string, roomCode: string, source: SourceName, availability: number): string {
    return `${hotelCode}/${roomCode}/${source}/${availability}`;
  }

  private polling: Promise<void> | null = null;

  /** Reads the rows appended since the last poll; concurrent callers share one read, so no row is counted twice. */
  poll(): Promise<void> {
    this.polling ??= this.readNewRows().finally(() => (this.polling = null));
    return this.polling;
  }

  private async readNewRows(): Promise<void> {
    for (;;) {
      // ORDER BY the table's bigint id: a bare `id` would sort the select list's text column ("10" < "9").
      const { rows } = await this.unified.query<AuditRow & { id: string }>(
        `SELECT id::text, hotel_code, room_code, trigger_source, trigger_position, legacy_value, cloud_value,
                (extract(epoch FROM resolved_at) * 1000000)::bigint::text AS resolved_us
           FROM conflict_audit WHERE field = 'availability' AND id > $1 ORDER BY conflict_audit.id LIMIT 5000`,
        [Math.max(0, this.lastId - commitOrderSlack)],
      );
      let fresh = 0;
      for (const row of rows) {
        if (this.seenIds.has(row.id)) continue;
        this.seenIds.add(row.id);
        this.add(row);
        fresh += 1;
      }
      const last = rows.at(-1);
      if (!last) return;
      this.lastId = Math.max(this.lastId, Number(last.id));
      if (rows.length < 5000 || fresh === 0) return;
    }
  }

  private add(row: AuditRow): void {
    this.rows += 1;
    const position = `${row.hotel_code}/${row.room_code}/${row.trigger_source}/${row.trigger_position}`;
    if (this.positions.has(position)) this.duplicates += 1;
    this.positions.add(position);
    const value = row.trigger_source === 'legacy' ? row.legacy_value : row.cloud_value;
    const key = AuditLedger.changeKey(row.hotel_code, row.room_code, row.trigger_source, Number(value));
    if (!this.firstResolved.has(key)) this.firstResolved.set(key, Number(row.resolved_us));
  }

  /** When the change's audit row was written (µs on the database clock), or null while it has none. */
  resolvedUs(change: AttemptedChange): number | null {
    return this.firstResolved.get(AuditLedger.changeKey(change.hotelCode, change.roomCode, change.source, change.availability)) ?? null;
  }

  counts(attempts: readonly AttemptedChange[]): LedgerCounts {
    let committed = 0;
    let applied = 0;
    let uncertainApplied = 0;
    for (const attempt of attempts) {
      const audited = this.resolvedUs(attempt) !== null;
      if (attempt.committedUs === null) {
        if (audited) uncertainApplied += 1;
        continue;
      }
      committed += 1;
      if (audited) applied += 1;
    }
    const distinctChanges = this.firstResolved.size;
    return {
      committed,
      applied,
      missing: committed - applied,
      auditRows: this.rows,
      duplicated: this.duplicates,
      uncertainApplied,
      unexpected: Math.max(0, distinctChanges - applied - uncertainApplied),
    };
  }

  /**
   * Seconds from `sinceUs` until every change committed before it had its audit row: how
   * long the pipeline took to be current again once the fault was over. Null while one is
   * still missing; 0 when nothing was outstanding.
   */
  currentAgainS(attempts: readonly AttemptedChange[], sinceUs: number): number | null {
    let latest = sinceUs;
    for (const attempt of attempts) {
      if (attempt.committedUs === null || attempt.committedUs > sinceUs) continue;
      const resolved = this.resolvedUs(attempt);
      if (resolved === null) return null;
      latest = Math.max(latest, resolved);
    }
    return (latest - sinceUs) / 1e6;
  }
}
