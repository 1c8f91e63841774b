import type { Kysely } from 'kysely';
import type { Policy } from '../policy/schema.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { createApplyRoomChanges, type ApplyRoomChangesResult } from './apply-room-changes.js';
import { createMonitoringActivities, type MonitoringDependencies } from './monitoring.js';
import { createQuarantineActivities } from './quarantine.js';
import { createReResolutionActivities } from './re-resolution.js';
import { createReconcileActivities } from './reconcile.js';
import type { QuarantineRecord } from '../db/quarantine-repository.js';

export interface ActivityDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly policy: Policy;
  readonly onApplied?: (result: ApplyRoomChangesResult, durationMs: number) => void;
  readonly monitoring: Omit<MonitoringDependencies, 'db'>;
  readonly onQuarantined?: (record: QuarantineRecord) => void;
}

/** Activities that touch a database are built once per worker around its pools. */
export function createActivities(deps: ActivityDependencies) {
  return {
    applyRoomChanges: createApplyRoomChanges(deps),
    ...createQuarantineActivities({ db: deps.db, log: deps.monitoring.log.child('quarantine'), ...(deps.onQuarantined ? { onQuarantined: deps.onQuarantined } : {}) }),
    ...createMonitoringActivities({ db: deps.db, ...deps.monitoring }),
    ...createReResolutionActivities({ db: deps.db, policy: deps.policy }),
    ...createReconcileActivities({
      db: deps.db,
      sources: deps.monitoring.sources,
      policy: deps.policy,
      log: deps.monitoring.log.child('reconcile'),
      ...(deps.monitoring.metrics ? { metrics: deps.monitoring.metrics } : {}),
    }),
  };
}
