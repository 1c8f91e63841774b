import type { Kysely } from 'kysely';
import { quarantineRoom, type QuarantineInput, type QuarantineRecord } from '../db/quarantine-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { Logger } from '../observability/logger.js';

export interface QuarantineDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly log: Logger;
  readonly onQuarantined?: (record: QuarantineRecord) => void;
}

/** A room's apply kept failing: dead-letter its changes with the error and quarantine it; the monitor pages. */
export function createQuarantineActivities({ db, log, onQuarantined }: QuarantineDependencies) {
  return {
    quarantineRoomChanges: async (input: QuarantineInput): Promise<QuarantineRecord> => {
      const record = await quarantineRoom(db, input);
      log.error('room quarantined: its apply keeps failing; changes dead-lettered, room not sold', {
        room: record.room,
        changes: input.changes.length,
        reason: input.reason,
      });
      onQuarantined?.(record);
      return record;
    },
  };
}
