import type { RoomKey } from '../domain/room.js';

/**
 * Every change of a room, from either source, goes to the one long-running workflow of
 * that room, which serializes them. The id comes from the unified key, so ops can find it.
 */
export function roomWorkflowId(room: RoomKey): string {
  return `room/${room.hotelCode}/${room.roomCode}`;
}

/** The room a room workflow id names; null for any other workflow. */
export function roomOfWorkflowId(workflowId: string): RoomKey | null {
  const match = /^room\/([^/]+)\/(.+)$/.exec(workflowId);
  return match?.[1] && match[2] ? { hotelCode: match[1], roomCode: match[2] } : null;
}

/** Workflow types of earlier releases that serialized several rooms; `npm start` retires those still running. */
export const retiredWorkflowTypes = ['roomGroupWorkflow'] as const;
