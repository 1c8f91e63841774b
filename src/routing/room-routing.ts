import { z } from 'zod';
import type { RoomKey } from '../domain/room.js';

/**
 * Which workflow serializes a room's changes. Every mode sends all of a room's changes,
 * from both sources, to exactly one workflow; they differ in how many rooms share it.
 * - `per-room`: one workflow per room. Simplest to read in the Temporal UI, but every
 *   change to a quiet room costs a workflow task of its own.
 * - `per-hotel`: one workflow per hotel; a legacy property change is one signal.
 * - `partitions:N`: N workflows, a hotel's rooms always in the same one (by a stable hash
 *   of the hotel code). Changes that arrive while a batch is applied travel together in
 *   the next one, so the task count follows N, not the change rate.
 */
export type RoomRouting =
  | { readonly mode: 'per-room' }
  | { readonly mode: 'per-hotel' }
  | { readonly mode: 'partitions'; readonly partitions: number };

export const maxPartitions = 4_096;

/** Sized on the 2-core reference machine (docs/capacity.md): enough workflows to keep a worker's slots busy, few enough that batches form under load. */
export const defaultRoomRouting: RoomRouting = { mode: 'partitions', partitions: 4 };

export const roomRoutingSchema = z
  .string()
  .trim()
  .transform((spec, context): RoomRouting => {
    if (spec === 'per-room' || spec === 'per-hotel') return { mode: spec };
    const match = /^partitions:(\d+)$/.exec(spec);
    const partitions = match ? Number(match[1]) : Number.NaN;
    if (Number.isInteger(partitions) && partitions >= 1 && partitions <= maxPartitions) return { mode: 'partitions', partitions };
    context.addIssue({ code: 'custom', message: `expected per-room, per-hotel or partitions:N (1 ≤ N ≤ ${maxPartitions}), got "${spec}"` });
    return z.NEVER;
  });

export function describeRouting(routing: RoomRouting): string {
  return routing.mode === 'partitions' ? `partitions:${routing.partitions}` : routing.mode;
}

/** FNV-1a over UTF-16 code units: stable across processes and releases, unlike a seeded hash. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function partitionOf(hotelCode: string, partitions: number): number {
  return stableHash(hotelCode) % partitions;
}

/**
 * The workflow id for a room. The partition count is part of the id, so changing it
 * starts a fresh set of workflows instead of re-homing rooms inside running ones; the
 * apply step's position guard keeps a room right while both sets drain.
 */
export function roomWorkflowIdFor(routing: RoomRouting, room: RoomKey): string {
  switch (routing.mode) {
    case 'per-room':
      return `room/${room.hotelCode}/${room.roomCode}`;
    case 'per-hotel':
      return `hotel/${room.hotelCode}`;
    case 'partitions':
      return `rooms/partition-${partitionOf(room.hotelCode, routing.partitions)}-of-${routing.partitions}`;
  }
}
