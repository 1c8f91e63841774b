import type { Kysely } from 'kysely';
import type { Policy } from '../policy/schema.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { createApplyRoomChanges, type ApplyRoomChangesResult } from './apply-room-changes.js';
import { createMonitoringActivities, type MonitoringDependencies } from './monitoring.js';

export interface ActivityDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly policy: Policy;
  readonly onApplied?: (result: ApplyRoomChangesResult, durationMs: number) => void;
  readonly monitoring: Omit<MonitoringDependencies, 'db'>;
}

/** Activities that touch a database are built once per worker around its pools. */
export function createActivities(deps: ActivityDependencies) {
  return {
    applyRoomChanges: createApplyRoomChanges(deps),
    ...createMonitoringActivities({ db: deps.db, ...deps.monitoring }),
  };
}
