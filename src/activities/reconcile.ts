import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import { readActivePolicy } from '../db/policy-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { SourceName } from '../domain/room.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Policy } from '../policy/schema.js';
import { runReconcile } from '../reconcile/run.js';
import type { MonitoredSource } from './monitoring.js';

export interface ReconcileActivityDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly sources: readonly MonitoredSource[];
  /** POLICY_FILE's, until a policy is recorded active. */
  readonly policy: Policy;
  readonly log: Logger;
  readonly metrics?: Metrics;
}

/** What the scheduled reconcile's workflow needs to alert on one source: counts and a sample, never rows. */
export interface ReconcileSummary {
  readonly source: SourceName;
  readonly compared: number;
  /** Drifted, missing and extra rooms, confirmed. */
  readonly differing: number;
  readonly sample: readonly string[];
  /** The reconcile alert of this source still open from an earlier run, if any (a clean run resolves it). */
  readonly openIncident: string | null;
}

export interface ReconcileActivityResult {
  readonly sources: readonly ReconcileSummary[];
  /** Unified rows that do not follow from their stored sources. */
  readonly unifiedDiffering: number;
}

export function createReconcileActivities({ db, sources, policy, log, metrics }: ReconcileActivityDependencies) {
  return {
    /** A reconcile without repair of the given sources (the schedule's); heartbeats with its progress. */
    reconcileSources: async ({ sources: names }: { sources: readonly SourceName[] }): Promise<ReconcileActivityResult> => {
      const heartbeat = (message: string) => {
        try {
          Context.current().heartbeat(message);
        } catch {
          // Outside an activity (a test calls the function directly).
        }
      };
      const active = (await readActivePolicy(db))?.policy ?? policy;
      const result = await runReconcile(
        {
          db,
          source: async (source) => {
            const access = sources.find((candidate) => candidate.descriptor.source === source);
            if (!access) throw new Error(`no ${source} source on this worker`);
            return access;
          },
          log,
          onProgress: (message) => {
            heartbeat(message);
            log.debug('reconcile progress', { message });
          },
        },
        { sources: names, repair: false, policy: active, origin: 'schedule', listLimit: 10 },
      );
      const summaries: ReconcileSummary[] = [];
      for (const report of result.sources) {
        const differing = report.counts.drifted + report.counts.missing + report.counts.extra;
        metrics?.reconcileDriftedRooms.set({ source: report.source }, differing);
        const open = await db
          .selectFrom('alerts')
          .select('incident_key')
          .where('subject', '=', 'reconcile')
          .where('source', '=', report.source)
          .where('resolved_at', 'is', null)
          .orderBy('id', 'desc')
          .executeTakeFirst();
        summaries.push({ source: report.source, compared: report.counts.compared, differing, sample: report.rooms.slice(0, 10).map((room) => room.room), openIncident: open?.incident_key ?? null });
        log.info('scheduled reconcile', { source: report.source, ...report.counts, inFlight: report.inFlight });
      }
      if (result.unified.roomsDiffering > 0) log.warn('scheduled reconcile: unified rows differ from the merge of their stored sources', { rooms: result.unified.roomsDiffering });
      return { sources: summaries, unifiedDiffering: result.unified.roomsDiffering };
    },
  };
}
