import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { RoomKey, SourceName, UnifiedStatus } from '../domain/room.js';
import { sourceChangeSchema, type SourceChange } from '../mapping/change.js';
import { applyChanges } from '../merge/apply-changes.js';
import type { Policy } from '../policy/schema.js';
import { recordDeadLetter } from '../db/dead-letter-repository.js';
import {
  appendConflicts,
  loadLegacyHotel,
  loadRoomSources,
  lockHotelShared,
  lockRoom,
  saveRoomSources,
  upsertUnifiedRoom,
} from '../db/room-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';

export interface ApplyRoomChangesInput {
  readonly room: RoomKey;
  readonly changes: readonly SourceChange[];
}

/** What the workflow keeps and its query shows: the merged row and how far each source got. */
export interface RoomView {
  readonly hotelClass: string;
  readonly roomType: string | null;
  readonly rateMinor: number | null;
  readonly currency: string | null;
  readonly availability: number | null;
  readonly status: UnifiedStatus;
  readonly sources: Readonly<Record<'rate' | 'availability' | 'room_type' | 'status', SourceName>>;
  readonly policyVersion: string;
  readonly lastPositions: Readonly<Record<SourceName, string | null>>;
}

export interface ApplyRoomChangesResult {
  readonly view: RoomView;
  readonly applied: number;
  readonly ignored: number;
  readonly conflicts: number;
  readonly rejected: number;
}

export interface ApplyDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly policy: Policy;
  readonly onApplied?: (result: ApplyRoomChangesResult, durationMs: number) => void;
}

const changesSchema = z.array(z.unknown());

/**
 * One transaction per batch: store each source's latest value (older positions are
 * ignored), resolve with the policy, upsert the unified row, append one audit row per
 * conflict. A replayed batch finds every position already stored and writes nothing.
 */
export function createApplyRoomChanges({ db, policy, onApplied }: ApplyDependencies) {
  return async function applyRoomChanges(input: ApplyRoomChangesInput): Promise<ApplyRoomChangesResult> {
    const started = performance.now();
    const { room } = input;
    const valid: SourceChange[] = [];
    const invalid: { raw: unknown; reason: string }[] = [];
    for (const raw of changesSchema.parse(input.changes)) {
      const parsed = sourceChangeSchema.safeParse(raw);
      if (parsed.success) valid.push(parsed.data);
      else invalid.push({ raw, reason: `invalid change signal: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` });
    }
    for (const { raw, reason } of invalid) {
      await recordDeadLetter(db, {
        source: raw !== null && typeof raw === 'object' && 'source' in raw && raw.source === 'cloud' ? 'cloud' : 'legacy',
        tableName: 'signal',
        position: 'signal',
        commitTime: null,
        rowKey: `${room.hotelCode}/${room.roomCode}:${JSON.stringify(raw)}`,
        raw,
        reason,
      });
    }

    const result = await db.transaction().execute(async (trx) => {
      await lockRoom(trx, room);
      await lockHotelShared(trx, room.hotelCode);
      const stored = await loadRoomSources(trx, room);
      const hotel = await loadLegacyHotel(trx, room.hotelCode);
      const outcome = applyChanges(policy, stored, valid, hotel);
      const changedSources = outcome.sources !== stored;
      if (changedSources) {
        const appliedTimes = valid
          .filter((change) => change.kind === 'room')
          .map((change) => change.commitTime)
          .sort();
        const newestCommit = appliedTimes.at(-1) ?? hotel?.commitTime ?? null;
        await saveRoomSources(trx, room, outcome.sources);
        await upsertUnifiedRoom(trx, room, outcome.resolved, outcome.sources, newestCommit);
      }
      const conflicts = await appendConflicts(trx, room, outcome.conflicts, policy.policyVersion);
      return { outcome, conflicts };
    });

    const { outcome } = result;
    const view: RoomView = {
      hotelClass: outcome.resolved.hotelClass,
      roomType: outcome.resolved.roomType,
      rateMinor: outcome.resolved.rate?.rate_minor ?? null,
      currency: outcome.resolved.rate?.currency ?? null,
      availability: outcome.resolved.availability,
      status: outcome.resolved.status,
      sources: {
        rate: outcome.resolved.decisions.rate.source,
        availability: outcome.resolved.decisions.availability.source,
        room_type: outcome.resolved.decisions.room_type.source,
        status: outcome.resolved.decisions.status.source,
      },
      policyVersion: outcome.resolved.policyVersion,
      lastPositions: { legacy: outcome.sources.legacy?.position ?? null, cloud: outcome.sources.cloud?.position ?? null },
    };
    const summary = { view, applied: outcome.applied, ignored: outcome.ignored, conflicts: result.conflicts, rejected: invalid.length };
    onApplied?.(summary, performance.now() - started);
    return summary;
  };
}
