import { sql, type Kysely } from 'kysely';
import type { UnifiedDatabase } from '../db/schema.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { readUnapplied } from '../db/unapplied-repository.js';
import { listQuarantinedRooms } from '../db/quarantine-repository.js';

export interface SourceFreshness {
  readonly source: SourceName;
  /** Seconds since the commit time of the newest acked change (heartbeats included): the lag. */
  readonly lagSeconds: number | null;
  /** Seconds since the newest acked real (non-heartbeat) change. */
  readonly lastChangeAgeSeconds: number | null;
  readonly changesAcked: number;
  /** Changes Temporal took that no apply has taken yet, and how old (by source commit) the oldest is. */
  readonly unapplied: number;
  readonly oldestUnappliedAgeSeconds: number | null;
}

export interface PipelineCounts {
  readonly sources: readonly SourceFreshness[];
  readonly rooms: number;
  readonly conflicts: number;
  readonly deadLetters: number;
  readonly quarantined: readonly { room: string; reason: string; quarantinedAt: string }[];
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
  const unapplied = await readUnapplied(db);
  const quarantined = await listQuarantinedRooms(db);
  return {
    sources: sourceNames.map((source) => {
      const cursor = cursors.find((row) => row.source === source);
      const waiting = unapplied.get(source);
      return {
        source,
        lagSeconds: cursor?.lag_seconds ?? null,
        lastChangeAgeSeconds: cursor?.last_change_age_seconds ?? null,
        changesAcked: Number(cursor?.changes_acked ?? 0),
        unapplied: waiting?.count ?? 0,
        oldestUnappliedAgeSeconds: waiting?.oldestAgeSeconds ?? null,
      };
    }),
    rooms: Number(counts.rooms),
    conflicts: Number(counts.conflicts),
    deadLetters: Number(counts.dead_letters),
    quarantined,
  };
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.round(seconds % 60)}s`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

function formatUnapplied(source: SourceFreshness): string {
  return source.unapplied === 0 ? 'all applied' : `${source.unapplied} unapplied (oldest ${formatSeconds(source.oldestUnappliedAgeSeconds)})`;
}

/** The one-line view `npm start` prints every few seconds. */
export function formatStatusLine(counts: PipelineCounts, appliedPerSecond: number, temporalUiUrl: string): string {
  const sources = counts.sources
    .map(
      (source) =>
        `${source.source} acked ${formatSeconds(source.lagSeconds)} ago (last change ${formatSeconds(source.lastChangeAgeSeconds)}), ` +
        `${formatUnapplied(source)}`,
    )
    .join(' | ');
  return [
    `applied ${appliedPerSecond.toFixed(1)}/s`,
    sources,
    `rooms ${counts.rooms}`,
    `conflicts ${counts.conflicts}`,
    `dead letters ${counts.deadLetters}`,
    ...(counts.quarantined.length > 0 ? [`QUARANTINED ${counts.quarantined.length}`] : []),
    `Temporal UI ${temporalUiUrl}`,
  ].join(' | ');
}

export interface SourceHealth {
  readonly source: SourceName;
  readonly lagSeconds: number | null;
  readonly backlogBytes: number | null;
  readonly slotRetainedBytes: number | null;
  readonly connected: boolean | null;
  readonly checkedSecondsAgo: number | null;
  readonly alert: 'ok' | 'warning' | 'page';
}

export interface PipelineHealth {
  readonly sources: readonly SourceHealth[];
  readonly sellableRooms: number;
  readonly unsellableRooms: number;
  /** The most common reasons rooms are not sellable, for a person to read. */
  readonly reasons: readonly { reason: string; rooms: number }[];
}

export async function readPipelineHealth(db: Kysely<UnifiedDatabase>): Promise<PipelineHealth> {
  const freshness = await db
    .selectFrom('source_freshness')
    .select([
      'source',
      'backlog_bytes',
      'slot_retained_bytes',
      'connected',
      sql<number | null>`extract(epoch FROM now() - last_acked_commit_time)::float8`.as('lag_seconds'),
      sql<number>`extract(epoch FROM now() - checked_at)::float8`.as('checked_seconds_ago'),
    ])
    .execute();
  const alerts = await db.selectFrom('alerts').select(['source', 'severity']).where('resolved_at', 'is', null).where('subject', '=', 'lag').execute();
  const bookable = await db
    .selectFrom('bookable_rooms')
    .select(['sellable', 'reason', sql<string>`count(*)`.as('rooms')])
    .groupBy(['sellable', 'reason'])
    .orderBy(sql`count(*)`, 'desc')
    .execute();
  return {
    sources: sourceNames.map((source) => {
      const row = freshness.find((candidate) => candidate.source === source);
      const open = alerts.filter((alert) => alert.source === source);
      return {
        source,
        lagSeconds: row?.lag_seconds ?? null,
        backlogBytes: row?.backlog_bytes === null || row?.backlog_bytes === undefined ? null : Number(row.backlog_bytes),
        slotRetainedBytes: row?.slot_retained_bytes === null || row?.slot_retained_bytes === undefined ? null : Number(row.slot_retained_bytes),
        connected: row?.connected ?? null,
        checkedSecondsAgo: row?.checked_seconds_ago ?? null,
        alert: open.some((alert) => alert.severity === 'page') ? 'page' : open.length > 0 ? 'warning' : 'ok',
      };
    }),
    sellableRooms: bookable.filter((row) => row.sellable).reduce((sum, row) => sum + Number(row.rooms), 0),
    unsellableRooms: bookable.filter((row) => !row.sellable).reduce((sum, row) => sum + Number(row.rooms), 0),
    reasons: bookable
      .filter((row) => !row.sellable && row.reason !== null)
      .slice(0, 5)
      .map((row) => ({ reason: row.reason ?? '', rooms: Number(row.rooms) })),
  };
}

function formatBytes(bytes: number | null): string {
  if (bytes === null) return '?';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** `room-sync status` for a person: one block per source, then what the booking engine may sell. */
export function formatHealthReport(counts: PipelineCounts, health: PipelineHealth): string {
  const lines: string[] = [];
  for (const source of health.sources) {
    const counted = counts.sources.find((candidate) => candidate.source === source.source);
    lines.push(
      `${source.source.padEnd(6)} ${source.alert.toUpperCase().padEnd(7)} lag ${formatSeconds(source.lagSeconds)}, ` +
        `last real change ${formatSeconds(counted?.lastChangeAgeSeconds ?? null)} ago, backlog ${formatBytes(source.backlogBytes)}, ` +
        `slot retains ${formatBytes(source.slotRetainedBytes)}, connector ${source.connected === null ? 'unknown' : source.connected ? 'connected' : 'DISCONNECTED'}, ` +
        `checked ${formatSeconds(source.checkedSecondsAgo)} ago`,
    );
    if (counted) lines.push(`       applied: ${formatUnapplied(counted)}`);
  }
  lines.push(`rooms ${counts.rooms}, sellable ${health.sellableRooms}, not sellable ${health.unsellableRooms}; conflicts ${counts.conflicts}; dead letters ${counts.deadLetters}`);
  if (health.sellableRooms === 0 && health.unsellableRooms > 0) lines.push('NOTHING IS SELLABLE');
  for (const { reason, rooms } of health.reasons) lines.push(`  ${rooms} room(s): ${reason}`);
  for (const room of counts.quarantined) {
    lines.push(`QUARANTINED ${room.room} since ${room.quarantinedAt}: ${room.reason} (after a fix: room-sync dead-letters retry --room ${room.room})`);
  }
  return lines.join('\n');
}
