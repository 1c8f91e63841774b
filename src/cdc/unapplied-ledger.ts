import type { Kysely } from 'kysely';
import type { UnifiedDatabase } from '../db/schema.js';
import { listRoomsWithUnapplied, recordUnapplied } from '../db/unapplied-repository.js';
import type { SourceName } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';
import { roomWorkflowId } from '../routing/room-routing.js';

/**
 * Records changes as waiting before they are handed to Temporal. Group commit: while one
 * insert runs, later calls queue and go together in the next, so a busy connector makes
 * one round trip per burst instead of one per room.
 */
export class UnappliedLedger {
  private queued: { changes: readonly SourceChange[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing = false;

  constructor(private readonly db: Kysely<UnifiedDatabase>) {}

  record(changes: readonly SourceChange[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ changes, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** The workflows of the source's rooms that still have changes waiting for an apply. */
  async workflowsAwaitingApply(source: SourceName): Promise<ReadonlySet<string>> {
    return new Set((await listRoomsWithUnapplied(this.db, source)).map(roomWorkflowId));
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queued.length > 0) {
      const group = this.queued;
      this.queued = [];
      try {
        await recordUnapplied(this.db, group.flatMap((entry) => entry.changes));
        for (const entry of group) entry.resolve();
      } catch (error) {
        for (const entry of group) entry.reject(error);
      }
    }
    this.writing = false;
  }
}
