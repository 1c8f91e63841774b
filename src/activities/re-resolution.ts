import { Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import { readActivePolicy } from '../db/policy-repository.js';
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

export interface RoomsToReResolve {
  /** Rooms of the page that the policy decides differently from their row. */
  readonly rooms: readonly RoomKey[];
  readonly scanned: number;
  /** Where the next page starts; null after the last. */
  readonly next: RoomKey | null;
  /** A newer policy is active: this re-resolution is over, the newer one's takes over. */
  readonly supersededBy: string | null;
}

export interface ReResolvedWait {
  /** Rooms that still need the policy. */
  readonly remaining: readonly RoomKey[];
  readonly supersededBy: string | null;
}

const signalsInFlight = 16;
const pollIntervalMs = 250;

/**
 * What the re-resolution workflow needs: which rooms a newly applied policy decides
 * differently (`needsReResolution`, the apply's own predicate), signals to their room
 * workflows, and whether they have been re-resolved.
 */
export function createReResolutionActivities({ db, policy }: ReResolutionDependencies) {
  const policies = new PolicyCache(policy);

  /** Those of `rows` that the activation's policy would still re-resolve; null when a newer policy is active. */
  async function stillToReResolve(activation: string, rows: readonly StoredRoomResolution[]): Promise<{ rooms: RoomKey[]; supersededBy: string | null }> {
    const active = await readActivePolicy(db);
    if (active === null) throw new Error(`no policy is recorded; activation ${activation} cannot be re-resolved`);
    if (BigInt(active.id) > BigInt(activation)) return { rooms: [], supersededBy: active.id };
    const target = await policies.activeFor(db, { id: activation });
    const known = await policies.known(db, rows.map((row) => row.policyVersion));
    const rooms = rows
      .filter((row) => needsReResolution(target.policy, row.sources, { policyVersion: row.policyVersion, policy: known.get(row.policyVersion) ?? null }))
      .map((row) => row.room);
    return { rooms, supersededBy: null };
  }

  return {
    findRoomsToReResolve: async (input: { readonly activation: string; readonly after: RoomKey | null; readonly limit: number }): Promise<RoomsToReResolve> => {
      const page = await readResolutionsPage(db, input.after, input.limit);
      const { rooms, supersededBy } = await stillToReResolve(input.activation, page);
      const last = page.at(-1);
      return { rooms, scanned: page.length, next: page.length < input.limit || !last ? null : last.room, supersededBy };
    },

    /** Signal-with-start, so a room whose workflow is not running (terminated by hand, say) is re-resolved all the same. */
    signalReResolve: async (input: { readonly rooms: readonly RoomKey[]; readonly request: ReResolveRequest; readonly taskQueue: string }): Promise<number> => {
      const context = Context.current();
      const queue = [...input.rooms];
      const worker = async () => {
        for (let room = queue.shift(); room; room = queue.shift()) {
          await context.client.workflow.signalWithStart(roomWorkflow, {
            workflowId: roomWorkflowId(room),
            taskQueue: input.taskQueue,
            args: [{ room }],
            signal: reResolveSignal,
            signalArgs: [input.request],
            typedSearchAttributes: roomSearchAttributes(room),
          });
          context.heartbeat(roomKeyText(room));
        }
      };
      await Promise.all(Array.from({ length: Math.min(signalsInFlight, queue.length) }, worker));
      return input.rooms.length;
    },

    /** Polls until every room is re-resolved (or `waitMs` passes): what is left is signalled again by the workflow. */
    awaitReResolved: async (input: { readonly activation: string; readonly rooms: readonly RoomKey[]; readonly waitMs: number }): Promise<ReResolvedWait> => {
      const context = Context.current();
      const deadline = Date.now() + input.waitMs;
      for (;;) {
        const { rooms, supersededBy } = await stillToReResolve(input.activation, await readResolutions(db, input.rooms));
        if (rooms.length === 0 || supersededBy !== null || Date.now() >= deadline) return { remaining: rooms, supersededBy };
        context.heartbeat(rooms.length);
        await context.sleep(pollIntervalMs);
      }
    },
  };
}
