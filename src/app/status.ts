import { sql, type Kysely } from 'kysely';
import type { UnifiedDatabase } from '../db/schema.js';
import { sourceNames, type SourceName } from '../domain/room.js';

export interface SourceFreshness {
  readonly source: SourceName;
  /** Seconds since the commit time of the newest acked change (heartbeats included): the lag. */
  readonly lagSeconds: number | null;
  /** Seconds since the newest acked real (non-heartbeat) change. */
  readonly lastChangeAgeSeconds: number | null;
  readonly changesAcked: number;
}

export interface PipelineCounts {
  readonly sources: readonly SourceFreshness[];
  readonly rooms: number;
  readonly conflicts: number;
  readonly deadLetters: number;
}

export async function readPipelineCounts(db: Kysely<UnifiedDatabase>): Promise<PipelineCounts> {
  const cursors = await db
    .selectFrom('cdc_cursors')
    .select([
      'source',
      'changes_acked',
      sql<number | null>`extract(epoch FROM now() - last_acked_commit_time)::float8`.as('lag_seconds'),
      sql<number | null>`extract(epoch FROM now() - last_change_commit_time)::float8`.as('last_change_age_seconds'),
    ])
    .execute();
  const counts = await db
    .selectNoFrom([
      sql<string>`(SELECT count(*) FROM unified_rooms)`.as('rooms'),
      sql<string>`(SELECT count(*) FROM conflict_audit)`.as('conflicts'),
      sql<string>`(SELECT count(*) FROM dead_letters)`.as('dead_letters'),
    ])
    .executeTakeFirstOrThrow();
  return {
    sources: sourceNames.map((source) => {
      const cursor = cursors.find((row) => row.source === source);
      return {
        source,
        lagSeconds: cursor?.lag_seconds ?? null,
        lastChangeAgeSeconds: cursor?.last_change_age_seconds ?? null,
        changesAcked: Number(cursor?.changes_acked ?? 0),
      };
    }),
    rooms: Number(counts.rooms),
    conflicts: Number(counts.conflicts),
    deadLetters: Number(counts.dead_letters),
  };
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** The one-line view `npm start` prints every few seconds. */
export function formatStatusLine(counts: PipelineCounts, appliedPerSecond: number, temporalUiUrl: string): string {
  const sources = counts.sources
    .map((source) => `${source.source} acked ${formatSeconds(source.lagSeconds)} ago (last change ${formatSeconds(source.lastChangeAgeSeconds)})`)
    .join(' | ');
  return [
    `applied ${appliedPerSecond.toFixed(1)}/s`,
    sources,
    `rooms ${counts.rooms}`,
    `conflicts ${counts.conflicts}`,
    `dead letters ${counts.deadLetters}`,
    `Temporal UI ${temporalUiUrl}`,
  ].join(' | ');
}
