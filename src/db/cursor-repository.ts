import { sql, type Kysely } from 'kysely';
import type { SourceName } from '../domain/room.js';
import type { UnifiedDatabase } from './schema.js';

export interface CursorIdentity {
  readonly source: SourceName;
  readonly slotName: string;
  readonly publicationName: string;
}

export async function ensureCursor(db: Kysely<UnifiedDatabase>, identity: CursorIdentity) {
  await db
    .insertInto('cdc_cursors')
    .values({ source: identity.source, slot_name: identity.slotName, publication_name: identity.publicationName })
    .onConflict((conflict) =>
      conflict.column('source').doUpdateSet({ slot_name: identity.slotName, publication_name: identity.publicationName }),
    )
    .execute();
  return db.selectFrom('cdc_cursors').selectAll().where('source', '=', identity.source).executeTakeFirstOrThrow();
}

export async function markSnapshotStarted(db: Kysely<UnifiedDatabase>, source: SourceName, snapshotLsn: string): Promise<void> {
  await db.updateTable('cdc_cursors').set({ snapshot_lsn: snapshotLsn, snapshot_completed_at: null }).where('source', '=', source).execute();
}

export async function markSnapshotCompleted(
  db: Kysely<UnifiedDatabase>,
  source: SourceName,
  snapshotLsn: string,
  snapshotTime: string,
  rows: number,
): Promise<void> {
  await db
    .updateTable('cdc_cursors')
    .set({
      snapshot_completed_at: sql<Date>`now()`,
      last_acked_lsn: snapshotLsn,
      last_acked_commit_time: snapshotTime,
      acked_at: sql<Date>`now()`,
      changes_acked: sql<number>`changes_acked + ${rows}`,
    })
    .where('source', '=', source)
    .where('snapshot_lsn', '=', snapshotLsn)
    .execute();
}

export interface AckedPosition {
  readonly lsn: string;
  readonly commitTime: string;
  readonly lastChangeCommitTime: string | null;
  readonly changes: number;
}

/** Written before the slot is acknowledged: the cursor never claims more than Temporal has accepted. */
export async function recordAcked(db: Kysely<UnifiedDatabase>, source: SourceName, acked: AckedPosition): Promise<void> {
  await db
    .updateTable('cdc_cursors')
    .set({
      last_acked_lsn: acked.lsn,
      last_acked_commit_time: acked.commitTime,
      acked_at: sql<Date>`now()`,
      changes_acked: sql<number>`changes_acked + ${acked.changes}`,
      ...(acked.lastChangeCommitTime === null ? {} : { last_change_commit_time: acked.lastChangeCommitTime }),
    })
    .where('source', '=', source)
    .execute();
}

/**
 * The connector connected and began reading (a snapshot or the stream) when the source's WAL
 * was at `walLsn`: it is catching up until it has acked that position (the lag monitor warns
 * meanwhile instead of paging for an outage that is over).
 */
export async function markConnected(db: Kysely<UnifiedDatabase>, source: SourceName, walLsn: string): Promise<void> {
  await db.updateTable('cdc_cursors').set({ connected_at: sql<Date>`now()`, connected_wal_lsn: walLsn }).where('source', '=', source).execute();
}

/** A clean stop: the connector no longer reads, so it is not catching up either. */
export async function markDisconnected(db: Kysely<UnifiedDatabase>, source: SourceName): Promise<void> {
  await db.updateTable('cdc_cursors').set({ connected_at: null }).where('source', '=', source).execute();
}

/** The slot was found lost; the lag monitor raises it as a warning alert (a re-snapshot ran). */
export async function markSlotLost(db: Kysely<UnifiedDatabase>, source: SourceName, reason: 'dropped' | 'invalidated'): Promise<void> {
  await db.updateTable('cdc_cursors').set({ slot_lost_at: sql<Date>`now()`, slot_lost_reason: reason }).where('source', '=', source).execute();
}
