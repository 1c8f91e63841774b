import { sql, type Kysely, type Transaction } from 'kysely';
import type { RoomKey, SourceName } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';
import type { UnifiedDatabase } from './schema.js';

type Db = Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>;

/**
 * Written by a connector before it hands changes to Temporal, so a change is counted as
 * waiting from the moment it may be accepted; a re-delivered change finds its row there.
 */
export async function recordUnapplied(db: Db, changes: readonly SourceChange[]): Promise<void> {
  if (changes.length === 0) return;
  // The ledger only feeds freshness: an entry lost in a crash of the unified database costs a
  // moment of monitoring, never data, so this one statement commits without waiting for the
  // WAL flush (set_config(..., true) lasts for its own transaction only).
  await sql`
    INSERT INTO unapplied_changes (source, hotel_code, room_code, position, commit_time)
    SELECT c.source, c.hotel_code, c.room_code, c.position, c.commit_time
      FROM jsonb_to_recordset(${JSON.stringify(
        changes.map((change) => ({
          source: change.source,
          hotel_code: change.hotelCode,
          room_code: change.roomCode,
          position: change.position,
          commit_time: change.commitTime,
        })),
      )}::jsonb) AS c(source text, hotel_code text, room_code text, position text, commit_time timestamptz)
     CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed
    ON CONFLICT DO NOTHING`.execute(db);
}

export interface AppliedUpTo {
  readonly room: RoomKey;
  readonly source: SourceName;
  /** Every change of that room and source at or before this position has been taken. */
  readonly position: string;
}

/** Inside the apply transaction: what it took is no longer waiting (replays and older positions included). */
export async function clearUnapplied(trx: Db, applied: readonly AppliedUpTo[]): Promise<void> {
  if (applied.length === 0) return;
  await sql`
    DELETE FROM unapplied_changes u
    USING unnest(${applied.map((a) => a.room.hotelCode)}::text[], ${applied.map((a) => a.room.roomCode)}::text[],
                 ${applied.map((a) => a.source)}::text[], ${applied.map((a) => a.position)}::text[]) AS t(hotel_code, room_code, source, position)
    WHERE u.hotel_code = t.hotel_code AND u.room_code = t.room_code AND u.source = t.source AND u.position <= t.position`.execute(trx);
}

/** The highest position per room and source among the changes: what an apply of them has taken. */
export function appliedUpTo(changes: readonly SourceChange[]): AppliedUpTo[] {
  const highest = new Map<string, AppliedUpTo>();
  for (const change of changes) {
    const key = `${change.hotelCode}/${change.roomCode}/${change.source}`;
    const known = highest.get(key);
    if (!known || change.position > known.position) {
      highest.set(key, { room: { hotelCode: change.hotelCode, roomCode: change.roomCode }, source: change.source, position: change.position });
    }
  }
  return [...highest.values()];
}

export interface UnappliedReading {
  readonly source: SourceName;
  readonly count: number;
  readonly oldestCommitTime: Date | null;
  readonly oldestAgeSeconds: number | null;
  /** The lowest position waiting (positions sort as text). */
  readonly oldestPosition: string | null;
}

/** Per source: changes Temporal took that no apply has taken, and the age of the oldest by its source commit. */
export async function readUnapplied(db: Db): Promise<Map<SourceName, UnappliedReading>> {
  const rows = await db
    .selectFrom('unapplied_changes')
    .select([
      'source',
      sql<string>`count(*)`.as('count'),
      sql<Date | null>`min(commit_time)`.as('oldest'),
      sql<number | null>`extract(epoch FROM now() - min(commit_time))::float8`.as('age'),
      sql<string | null>`min(position)`.as('oldest_position'),
    ])
    .groupBy('source')
    .execute();
  return new Map(rows.map((row) => [row.source, { source: row.source, count: Number(row.count), oldestCommitTime: row.oldest, oldestAgeSeconds: row.age, oldestPosition: row.oldest_position }]));
}

/** The rooms of a source that have changes waiting for an apply (a connector's admission bound reads it). */
export async function listRoomsWithUnapplied(db: Db, source: SourceName): Promise<RoomKey[]> {
  const rows = await db
    .selectFrom('unapplied_changes')
    .select(['hotel_code', 'room_code'])
    .distinct()
    .where('source', '=', source)
    .execute();
  return rows.map((row) => ({ hotelCode: row.hotel_code, roomCode: row.room_code }));
}
