import type { Kysely } from 'kysely';
import { checkUnifiedRooms, describeDifference, type RoomDifference } from '../audit/check.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import type { Policy } from '../policy/schema.js';
import { reconcile, type ReconcileDependencies, type ReconcileOptions, type SourceReport } from './reconcile.js';

/** The unified rows against the merge of their stored sources (what `audit check` does). */
export interface UnifiedCheckReport {
  readonly policyVersion: string;
  readonly rooms: number;
  readonly roomsDiffering: number;
  readonly differences: readonly RoomDifference[];
}

export interface ReconcileResult {
  readonly sources: readonly SourceReport[];
  readonly unified: UnifiedCheckReport;
  /** Something differs at the end (after a repair, something it could not fix): exit 1. */
  readonly differs: boolean;
}

export type ReconcileOrigin = 'cli' | 'schedule';

/** Every source asked for, then the unified rows; each source's outcome recorded in reconcile_runs. */
export async function runReconcile(
  deps: ReconcileDependencies,
  options: ReconcileOptions & { readonly policy: Policy; readonly origin: ReconcileOrigin },
): Promise<ReconcileResult> {
  const sources = await reconcile(deps, options);
  for (const report of sources) await recordRun(deps.db, report, options.origin, options.hotel ?? null);
  const differences: RoomDifference[] = [];
  const limit = options.listLimit ?? 1_000;
  deps.onProgress?.(`unified: checking each unified row against the merge of its stored sources (policy ${options.policy.policyVersion})`);
  const check = await checkUnifiedRooms(deps.db, options.policy, {
    ...(options.hotel === undefined ? {} : { hotel: options.hotel }),
    onDifference: (difference) => {
      if (differences.length < limit) differences.push(difference);
    },
  });
  const unified = { policyVersion: options.policy.policyVersion, rooms: check.rooms, roomsDiffering: check.roomsDiffering, differences };
  return { sources, unified, differs: unified.roomsDiffering > 0 || sources.some((source) => source.unresolved > 0) };
}

async function recordRun(db: Kysely<UnifiedDatabase>, report: SourceReport, origin: ReconcileOrigin, hotel: string | null): Promise<void> {
  await db
    .insertInto('reconcile_runs')
    .values({
      source: report.source,
      origin,
      hotel_code: hotel,
      snapshot_position: report.snapshotPosition,
      started_at: report.startedAt,
      ...report.counts,
      repaired: report.repaired,
      unresolved: report.unresolved,
      sample: JSON.stringify(report.rooms.slice(0, 20).map((room) => ({ room: room.room, verdict: room.verdict, fields: room.differences.map((d) => d.field) }))),
    })
    .execute();
}

/** The newest run of each source: what `room-sync status` and the metric show. */
export interface LastReconcile {
  readonly source: SourceName;
  readonly finishedAt: Date;
  readonly drifted: number;
  readonly missing: number;
  readonly extra: number;
  readonly unresolved: number;
  readonly repaired: number;
  readonly compared: number;
  readonly origin: string;
}

export async function readLastReconciles(db: Kysely<UnifiedDatabase>): Promise<LastReconcile[]> {
  const rows = await db
    .selectFrom('reconcile_runs')
    .distinctOn('source')
    .select(['source', 'finished_at', 'drifted', 'missing', 'extra', 'unresolved', 'repaired', 'compared', 'origin'])
    // A run of one hotel says nothing of the others.
    .where('hotel_code', 'is', null)
    .orderBy('source')
    .orderBy('id', 'desc')
    .execute();
  // In the order every other status line uses: legacy, then cloud.
  rows.sort((a, b) => sourceNames.indexOf(a.source) - sourceNames.indexOf(b.source));
  return rows.map((row) => ({
    source: row.source,
    finishedAt: row.finished_at,
    drifted: row.drifted,
    missing: row.missing,
    extra: row.extra,
    unresolved: row.unresolved,
    repaired: row.repaired,
    compared: row.compared,
    origin: row.origin,
  }));
}

/** The `room-sync status` line: each source's last whole reconcile. */
export function formatReconcileStatus(last: readonly LastReconcile[], now: Date): string {
  if (last.length === 0) return 'reconcile: never run (room-sync reconcile, or the daily schedule)';
  return `reconcile: ${last
    .map((run) => {
      const differing = run.drifted + run.missing + run.extra;
      const hoursAgo = ((now.getTime() - run.finishedAt.getTime()) / 3_600_000).toFixed(1);
      const outcome =
        differing === 0
          ? 'matches'
          : `${differing} room(s) DIFFER (${run.drifted} drifted, ${run.missing} missing, ${run.extra} extra${run.repaired > 0 ? `, ${run.repaired} repaired` : ''})`;
      return `${run.source} ${outcome}, ${run.compared} compared ${hoursAgo}h ago (${run.origin})`;
    })
    .join(' | ')}`;
}

function formatValue(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

/** For a person: per source the counts, then each room that differs and its fields. */
export function formatReconcile(result: ReconcileResult): string {
  const lines: string[] = [];
  for (const report of result.sources) {
    const c = report.counts;
    lines.push(
      `${report.source}: ${c.compared} compared at ${report.snapshotPosition}: ${c.equal} equal, ${c.newer} newer, ${c.drifted} drifted, ` +
        `${c.missing} missing, ${c.extra} extra, ${c.unmappable} unmappable` +
        (report.inFlight > 0 ? ` (${report.inFlight} in flight, confirmed away)` : '') +
        (report.repaired > 0 || report.rooms.some((room) => room.afterRepair !== null) ? `; repaired ${report.repaired}, still differing ${report.unresolved}` : ''),
    );
    if (!report.streamCaughtUp) lines.push(`  (the ${report.source} stream did not reach the snapshot's position in time: these differences are unconfirmed)`);
    for (const room of report.rooms) {
      const fields = room.differences.map((d) => `${d.field} source ${formatValue(d.source)} stored ${formatValue(d.stored)}`).join('; ');
      lines.push(`  ${room.verdict.toUpperCase()} ${room.room}: ${fields}${room.afterRepair === null ? '' : ` -> after repair: ${room.afterRepair}`}`);
    }
    const unlisted = c.drifted + c.missing + c.extra - report.rooms.length;
    if (unlisted > 0) lines.push(`  ... and ${unlisted} more`);
  }
  const u = result.unified;
  lines.push(`unified: ${u.rooms} row(s) checked against the merge of their stored sources (policy ${u.policyVersion}): ${u.roomsDiffering} differ`);
  for (const difference of u.differences) lines.push(`  ${describeDifference(difference)}`);
  lines.push(result.differs ? 'DIFFERENT' : 'ok: the unified view matches both sources');
  return lines.join('\n');
}
