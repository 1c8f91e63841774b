import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { roomKeyText, type RoomKey, type SourceName, type UnifiedStatus } from '../domain/room.js';
import { sourceChangeSchema, type SourceChange } from '../mapping/change.js';
import { applyChanges, type AppliedChanges, type Conflict } from '../merge/apply-changes.js';
import type { RoomSources } from '../merge/field-values.js';
import { settleRetriedDeadLetters } from '../db/quarantine-repository.js';
import { appliedUpTo } from '../db/unapplied-repository.js';
import { changedFieldEntries, fieldEntries } from '../audit/field-history.js';
import { applyFailure } from './apply-failure.js';
import type { Policy } from '../policy/schema.js';
import { recordDeadLetter } from '../db/dead-letter-repository.js';
import { loadMergeInputs, lockRoomsAndHotels, writeApplied, type RoomConflict, type UnifiedRoomWrite } from '../db/apply-statements.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { PolicyCache } from './active-policy.js';

export interface ApplyRoomChangesInput {
  /** Changes of any rooms routed to the calling workflow, in arrival order. */
  readonly changes: readonly SourceChange[];
  /** Dead letters these changes re-deliver (`room-sync dead-letters retry`): settled as applied in the same transaction. */
  readonly retriedDeadLetterIds?: readonly string[];
  /** A room-specific failure is given up (non-retryable `RoomApplyFailed`) after this many attempts; unset: retried forever. */
  readonly quarantineAfterAttempts?: number;
  /** Rooms to resolve under the active policy even without a change (`reResolve` signal). */
  readonly reResolve?: readonly RoomKey[];
}

/** A conflict as the workflow history shows it: both values, the winner and the rule. */
export interface ConflictSummary {
  readonly field: Conflict['field'];
  readonly legacy: Conflict['legacyValue'];
  readonly cloud: Conflict['cloudValue'];
  readonly winner: Conflict['winningSource'];
  readonly rule: string;
}

/** The merged row as written: what the workflow history records per room, for ops and replay. */
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

export interface RoomOutcome {
  /** `HOTEL/ROOM` */
  readonly room: string;
  /** The merged row, with each source's latest position: what ops read in the marker. */
  readonly view: RoomView;
  /**
   * Each source's latest stored value: recorded by earlier releases, no longer returned. It is
   * room_sources' copy, and at about half the result it made every change's history event, every
   * replay and every cached run larger for nothing the workflow decides with.
   */
  readonly sources?: RoomSources;
  readonly applied: number;
  readonly ignored: number;
  /** The active policy decided the room differently from the one its row had: re-resolved and audited. */
  readonly reResolved: boolean;
  /** The conflicts this batch raised (their audit rows are in conflict_audit). */
  readonly conflicts: readonly ConflictSummary[];
}

export interface ApplyRoomChangesResult {
  readonly rooms: readonly RoomOutcome[];
  readonly applied: number;
  readonly ignored: number;
  /** Audit rows appended by this call (a replayed batch appends none). */
  readonly conflicts: number;
  /** Rooms the active policy re-resolved. */
  readonly reResolved: number;
  /** Signal entries that were not valid changes; each went to the dead-letter table. */
  readonly rejected: number;
  /** The retried dead letters were the last of a quarantined room's: it is sold again. */
  readonly quarantineLifted: boolean;
}

export interface ApplyDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  /** POLICY_FILE's: the active policy until one is recorded in policy_versions. */
  readonly policy: Policy;
  readonly onApplied?: (result: ApplyRoomChangesResult, durationMs: number) => void;
}

const changesSchema = z.array(z.unknown());

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

function viewOf(outcome: AppliedChanges): RoomView {
  const { resolved, sources } = outcome;
  return {
    hotelClass: resolved.hotelClass,
    roomType: resolved.roomType,
    rateMinor: resolved.rate?.rate_minor ?? null,
    currency: resolved.rate?.currency ?? null,
    availability: resolved.availability,
    status: resolved.status,
    sources: {
      rate: resolved.decisions.rate.source,
      availability: resolved.decisions.availability.source,
      room_type: resolved.decisions.room_type.source,
      status: resolved.decisions.status.source,
    },
    policyVersion: resolved.policyVersion,
    lastPositions: { legacy: sources.legacy?.position ?? null, cloud: sources.cloud?.position ?? null },
  };
}

/** Splits a signal's entries into valid changes per room and entries that are not changes at all. */
function partitionChanges(rawChanges: readonly unknown[]): {
  byRoom: Map<string, { room: RoomKey; changes: SourceChange[] }>;
  invalid: { raw: unknown; reason: string }[];
} {
  const byRoom = new Map<string, { room: RoomKey; changes: SourceChange[] }>();
  const invalid: { raw: unknown; reason: string }[] = [];
  for (const raw of rawChanges) {
    const parsed = sourceChangeSchema.safeParse(raw);
    if (!parsed.success) {
      invalid.push({ raw, reason: `invalid change signal: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` });
      continue;
    }
    const room = { hotelCode: parsed.data.hotelCode, roomCode: parsed.data.roomCode };
    const key = roomKeyText(room);
    const entry = byRoom.get(key) ?? { room, changes: [] };
    entry.changes.push(parsed.data);
    byRoom.set(key, entry);
  }
  return { byRoom, invalid };
}

/**
 * One transaction per batch, whatever rooms it holds: store each source's latest value per
 * room (older positions are ignored), resolve with the active policy, upsert the unified
 * rows, append one audit row per conflict. The statements are set-based, so a batch of many
 * rooms costs about what one room does. A replayed batch finds every position stored and
 * writes nothing. A room whose row the active policy decides differently from the policy it
 * was resolved with is re-resolved, with or without changes.
 */
export function createApplyRoomChanges({ db, policy, onApplied }: ApplyDependencies) {
  const policies = new PolicyCache(policy);
  return async function applyRoomChanges(input: ApplyRoomChangesInput): Promise<ApplyRoomChangesResult> {
    const started = performance.now();
    const { byRoom, invalid } = partitionChanges(changesSchema.parse(input.changes));
    for (const room of input.reResolve ?? []) {
      if (!byRoom.has(roomKeyText(room))) byRoom.set(roomKeyText(room), { room: { hotelCode: room.hotelCode, roomCode: room.roomCode }, changes: [] });
    }
    for (const { raw, reason } of invalid) {
      await recordDeadLetter(db, {
        source: raw !== null && typeof raw === 'object' && 'source' in raw && raw.source === 'cloud' ? 'cloud' : 'legacy',
        tableName: 'signal',
        position: 'signal',
        commitTime: null,
        rowKey: JSON.stringify(raw) ?? String(raw),
        raw,
        reason,
      });
    }

    const entries = [...byRoom.values()];
    const rooms = entries.map((entry) => entry.room);
    const validChanges = entries.flatMap((entry) => entry.changes);
    const retried = input.retriedDeadLetterIds ?? [];
    // Outside an activity (tests call the function directly) there is no attempt count.
    const attempt = currentAttempt();
    const { outcomes, appended, quarantineLifted } = await db.transaction().execute(async (trx) => {
      await lockRoomsAndHotels(trx, rooms);
      const { rooms: stored, hotels, chainHeads, latestFields, resolvedWith, activePolicy } = await loadMergeInputs(trx, rooms);
      // One policy for the whole batch: the one active when its inputs were read.
      const active = await policies.activeFor(trx, activePolicy);
      const storedPolicies = await policies.known(trx, resolvedWith.values());
      const writes: UnifiedRoomWrite[] = [];
      const conflicts: RoomConflict[] = [];
      const outcomes: { room: RoomKey; outcome: AppliedChanges }[] = [];
      for (const { room, changes } of entries) {
        const before = stored.get(roomKeyText(room)) ?? { legacy: null, cloud: null, legacyHotel: null };
        const hotel = hotels.get(room.hotelCode) ?? null;
        const version = resolvedWith.get(roomKeyText(room));
        const outcome = applyChanges(active.policy, before, changes, hotel, {
          resolvedWith: version === undefined ? null : { policyVersion: version, policy: storedPolicies.get(version) ?? null },
          policyActivation: active.activation,
        });
        outcomes.push({ room, outcome });
        conflicts.push(...outcome.conflicts.map((conflict) => ({ room, conflict })));
        if (outcome.sources === before && !outcome.reResolved) continue;
        // A re-resolution alone folds in no source change: the stored commit time stays.
        const newestCommit =
          outcome.sources === before
            ? null
            : (changes
                .filter((change) => change.kind === 'room')
                .map((change) => change.commitTime)
                .sort()
                .at(-1) ??
              hotel?.commitTime ??
              null);
        writes.push({ room, resolved: outcome.resolved, sources: outcome.sources, lastChangeCommitTime: newestCommit });
      }
      const fieldHistory = writes.map(({ room, resolved, sources }) => ({
        room,
        entries: changedFieldEntries(latestFields.get(roomKeyText(room)) ?? new Map(), fieldEntries(resolved, sources)),
      }));
      const appended = await writeApplied(trx, {
        writes,
        conflicts,
        fieldHistory,
        chainHeads,
        latestFields,
        appliedAt: new Date().toISOString(),
        policyVersion: active.policy.policyVersion,
        taken: appliedUpTo(validChanges),
      });
      let quarantineLifted = false;
      for (const room of rooms) quarantineLifted = (await settleRetriedDeadLetters(trx, room, retried)) || quarantineLifted;
      return { outcomes, appended, quarantineLifted };
    }).catch((error: unknown) => {
      throw applyFailure(error, attempt, input.quarantineAfterAttempts);
    });

    const roomOutcomes = outcomes.map(({ room, outcome }) => ({
      room: roomKeyText(room),
      view: viewOf(outcome),
      applied: outcome.applied,
      ignored: outcome.ignored,
      reResolved: outcome.reResolved,
      conflicts: outcome.conflicts.map((conflict) => ({
        field: conflict.field,
        legacy: conflict.legacyValue,
        cloud: conflict.cloudValue,
        winner: conflict.winningSource,
        rule: conflict.rule,
      })),
    }));
    const summary: ApplyRoomChangesResult = {
      rooms: roomOutcomes,
      applied: roomOutcomes.reduce((sum, room) => sum + room.applied, 0),
      ignored: roomOutcomes.reduce((sum, room) => sum + room.ignored, 0),
      conflicts: appended,
      reResolved: roomOutcomes.filter((room) => room.reResolved).length,
      rejected: invalid.length,
      quarantineLifted,
    };
    onApplied?.(summary, performance.now() - started);
    return summary;
  };
}
