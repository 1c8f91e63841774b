import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { readActiveActivation } from '../db/policy-repository.js';
import { readResolutions, readResolutionsPage, type StoredRoomResolution } from '../db/resolution-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { roomKeyText, type RoomKey } from '../domain/room.js';
import { needsReResolution } from '../merge/re-resolution.js';
import type { Policy } from '../policy/schema.js';
import { roomWorkflowId } from '../routing/room-routing.js';
import { reResolveSignal, type ReResolveRequest } from '../workflows/messages.js';
import { roomWorkflow } from '../workflows/room.js';
import { roomSearchAttributes } from '../workflows/search-attributes.js';
import { PolicyCache } from './active-policy.js';

export interface ReResolutionDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  /** POLICY_FILE's, for rows resolved under it before any policy was recorded. */
  readonly policy: Policy;
}

/** One batch of a re-resolution: a page of rooms in key order, or (`rooms`) the ones still waited for. */
export interface ReResolveBatchInput {
  readonly activation: string;
  readonly policyVersion: string;
  /** The room workflows' task queue. */
  readonly taskQueue: string;
  readonly after: RoomKey | null;
  readonly limit: number;
  readonly rooms?: readonly RoomKey[];
  /** How long to wait for the signalled rooms before returning what is left. */
  readonly waitMs: number;
}

export interface ReResolveBatchResult {
  readonly scanned: number;
  /** Rooms of the batch the policy decided differently from their row, when the batch began. */
  readonly affected: number;
  /** Of those, the ones not re-resolved yet when the wait ended. */
  readonly remaining: readonly RoomKey[];
  /** Where the next page starts; null after the last (and for a batch of `rooms`). */
  readonly next: RoomKey | null;
  /** A newer policy is active: this re-resolution is over, the newer one's takes over. */
  readonly supersededBy: string | null;
}

const batchHeartbeatSchema = z.object({ affected: z.array(z.object({ hotelCode: z.string(), roomCode: z.string() })) });

const signalsInFlight = 32;
const pollIntervalMs = 100;

/**
 * What the re-resolution workflow needs: which rooms a newly applied policy decides
 * differently (`needsReResolution`, the apply's own predicate), signals to their room
 * workflows, and whether they have been re-resolved.
 */
export function createReResolutionActivities({ db, policy }: ReResolutionDependencies) {
  const policies = new PolicyCache(policy);

  /** Those of `rows` that the activation's policy would still re-resolve; null when a newer policy is active. */
  async function stillToReResolve(activation: string, rows: readonly StoredRoomResolution[]): Promise<{ rooms: RoomKey[]; supersededBy: string | null }> {
    const active = await readActiveActivation(db);
    if (active === null) throw new Error(`no policy is recorded; activation ${activation} cannot be re-resolved`);
    if (BigInt(active) > BigInt(activation)) return { rooms: [], supersededBy: active };
    const target = await policies.activeFor(db, { id: activation });
    const known = await policies.known(db, rows.map((row) => row.policyVersion));
    const rooms = rows
      .filter((row) => needsReResolution(target.policy, row.sources, { policyVersion: row.policyVersion, policy: known.get(row.policyVersion) ?? null }))
      .map((row) => row.room);
    return { rooms, supersededBy: null };
  }

  /** Signal-with-start, so a room whose workflow is not running (terminated by hand, say) is re-resolved all the same. */
  async function signal(rooms: readonly RoomKey[], request: ReResolveRequest, taskQueue: string, beat: () => void): Promise<void> {
    const context = Context.current();
    const queue = [...rooms];
    const sender = async () => {
      for (let room = queue.shift(); room; room = queue.shift()) {
        await context.client.workflow.signalWithStart(roomWorkflow, {
          workflowId: roomWorkflowId(room),
          taskQueue,
          args: [{ room }],
          signal: reResolveSignal,
          signalArgs: [request],
          typedSearchAttributes: roomSearchAttributes(room),
        });
        beat();
      }
    };
    await Promise.all(Array.from({ length: Math.min(signalsInFlight, queue.length) }, sender));
  }

  return {
    /**
     * Finds the batch's rooms that the policy decides differently, signals them (`reResolve`)
     * and waits until their rows carry it. One activity per batch: by the time the workflow
     * takes the result, the room workflow tasks it caused have drained from the task queue.
     * Retried whole after a crash: rooms already re-resolved are not signalled again, and
     * the heartbeat carries the rooms found, so the retry still counts them as affected.
     */
    reResolveBatch: async (input: ReResolveBatchInput): Promise<ReResolveBatchResult> => {
      const context = Context.current();
      const earlier = batchHeartbeatSchema.safeParse(context.info.heartbeatDetails);
      const rows = input.rooms ? await readResolutions(db, input.rooms) : await readResolutionsPage(db, input.after, input.limit);
      const last = rows.at(-1);
      const next = input.rooms || rows.length < input.limit || !last ? null : last.room;
      const found = await stillToReResolve(input.activation, rows);
      if (found.supersededBy !== null) return { scanned: rows.length, affected: 0, remaining: [], next, supersededBy: found.supersededBy };
      const affected = new Map([...(earlier.success ? earlier.data.affected : []), ...found.rooms].map((room) => [roomKeyText(room), room]));
      const beat = () => context.heartbeat({ affected: [...affected.values()] });
      beat();
      await signal(found.rooms, { activation: input.activation, policyVersion: input.policyVersion }, input.taskQueue, beat);
      const deadline = Date.now() + input.waitMs;
      let remaining = found.rooms;
      while (remaining.length > 0 && Date.now() < deadline) {
        await context.sleep(pollIntervalMs);
        const now = await stillToReResolve(input.activation, await readResolutions(db, remaining));
        if (now.supersededBy !== null) return { scanned: rows.length, affected: affected.size, remaining: now.rooms, next, supersededBy: now.supersededBy };
        remaining = now.rooms;
        beat();
      }
      return { scanned: rows.length, affected: affected.size, remaining, next, supersededBy: null };
    },
  };
}
