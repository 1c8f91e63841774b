import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { roomApplyTable } from '../db/quarantine-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { recordUnapplied } from '../db/unapplied-repository.js';
import { roomKeyText, type RoomKey } from '../domain/room.js';
import { sourceChangeSchema, type SourceChange } from '../mapping/change.js';
import { roomWorkflowId } from '../routing/room-routing.js';
import { retryDeadLettersSignal } from '../workflows/messages.js';
import { roomWorkflow } from '../workflows/room.js';
import { roomSearchAttributes } from '../workflows/search-attributes.js';

export interface RetryOutcome {
  readonly room: string;
  readonly retried: number;
  readonly applied: number;
  readonly failedAgain: number;
  readonly notMappable: number;
}

/** Rooms with dead letters no retry has settled, for `dead-letters retry` without `--room`. */
export async function roomsWithOpenDeadLetters(db: Kysely<UnifiedDatabase>): Promise<RoomKey[]> {
  const rows = await db
    .selectFrom('dead_letters')
    .select(['hotel_code', 'room_code'])
    .distinct()
    .where('retry_outcome', 'is', null)
    .where('table_name', '=', roomApplyTable)
    .execute();
  return rows.flatMap((row) => (row.hotel_code !== null && row.room_code !== null ? [{ hotelCode: row.hotel_code, roomCode: row.room_code }] : []));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Delivers a room's dead-lettered changes to its workflow again, then waits until each is
 * settled: applied (the room leaves quarantine once none is left) or dead-lettered anew.
 * The merge's position guard makes the result what it would have been without the failure.
 */
export async function retryRoomDeadLetters(
  db: Kysely<UnifiedDatabase>,
  client: Client,
  taskQueue: string,
  room: RoomKey,
  { timeoutMs = 120_000, onProgress = (_message: string): void => undefined } = {},
): Promise<RetryOutcome> {
  const letters = await db
    .selectFrom('dead_letters')
    .select(['id', 'raw'])
    .where('hotel_code', '=', room.hotelCode)
    .where('room_code', '=', room.roomCode)
    .where('table_name', '=', roomApplyTable)
    .where('retry_outcome', 'is', null)
    .orderBy('id')
    .execute();
  const changes: SourceChange[] = [];
  const ids: string[] = [];
  const unreadable: string[] = [];
  for (const letter of letters) {
    const parsed = sourceChangeSchema.safeParse(letter.raw);
    if (parsed.success && parsed.data.hotelCode === room.hotelCode && parsed.data.roomCode === room.roomCode) {
      changes.push(parsed.data);
      ids.push(letter.id);
    } else {
      unreadable.push(letter.id);
    }
  }
  if (unreadable.length > 0) {
    await db.updateTable('dead_letters').set({ retry_outcome: 'not-mappable', retried_at: new Date() }).where('id', 'in', unreadable).execute();
  }
  if (ids.length === 0) return { room: roomKeyText(room), retried: 0, applied: 0, failedAgain: 0, notMappable: unreadable.length };

  await recordUnapplied(db, changes);
  await client.workflow.signalWithStart(roomWorkflow, {
    workflowId: roomWorkflowId(room),
    taskQueue,
    args: [{ room }],
    signal: retryDeadLettersSignal,
    signalArgs: [{ deadLetterIds: ids, changes }],
    typedSearchAttributes: roomSearchAttributes(room),
  });
  onProgress(`${roomKeyText(room)}: ${ids.length} dead-lettered change(s) delivered again; waiting for the apply`);

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const settled = await db.selectFrom('dead_letters').select(['id', 'retry_outcome']).where('id', 'in', ids).execute();
    const open = settled.filter((row) => row.retry_outcome === null);
    if (open.length === 0) {
      return {
        room: roomKeyText(room),
        retried: ids.length,
        applied: settled.filter((row) => row.retry_outcome === 'applied').length,
        failedAgain: settled.filter((row) => row.retry_outcome === 'failed-again').length,
        notMappable: unreadable.length,
      };
    }
    if (Date.now() > deadline) {
      throw new Error(`${roomKeyText(room)}: ${open.length} retried change(s) not settled after ${Math.round(timeoutMs / 1000)} s; is a worker running on task queue ${taskQueue}?`);
    }
    await sleep(250);
  }
}
