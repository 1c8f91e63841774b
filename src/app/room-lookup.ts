import type { Kysely, Selectable } from 'kysely';
import type { ConflictAuditTable, UnifiedDatabase, UnifiedRoomsTable } from '../db/schema.js';
import { normalizeCode, type RoomKey } from '../domain/room.js';
import { roomWorkflowId } from '../routing/room-routing.js';

export interface RoomLookup {
  readonly room: RoomKey;
  readonly workflowId: string;
  readonly workflowUrl: string;
  /** The Temporal UI's list filtered by the room's search attributes. */
  readonly searchUrl: string;
  readonly unified: Selectable<UnifiedRoomsTable> | null;
  readonly audit: readonly Pick<Selectable<ConflictAuditTable>, (typeof auditColumns)[number]>[];
}

const auditColumns = ['id', 'field', 'legacy_value', 'cloud_value', 'winning_value', 'winning_source', 'rule', 'policy_version', 'resolved_at', 'trigger_source', 'trigger_position'] as const;

/** `HOTEL/ROOM` or two words, normalized as the contract keys rooms. */
export function parseRoomKey(parts: readonly string[]): RoomKey | null {
  const [first, second] = parts.length === 1 ? (parts[0] ?? '').split('/') : parts;
  if (first === undefined || second === undefined || first.trim() === '' || second.trim() === '') return null;
  return { hotelCode: normalizeCode(first), roomCode: normalizeCode(second) };
}

/**
 * Where ops look when a room is disputed: the workflow that serializes it (with its
 * Temporal UI link), its unified row and its newest audit rows.
 */
export async function lookUpRoom(
  db: Kysely<UnifiedDatabase>,
  room: RoomKey,
  ui: { readonly url: string; readonly namespace: string },
  auditRows = 10,
): Promise<RoomLookup> {
  const workflowId = roomWorkflowId(room);
  const unified = await db
    .selectFrom('unified_rooms')
    .selectAll()
    .where('hotel_code', '=', room.hotelCode)
    .where('room_code', '=', room.roomCode)
    .executeTakeFirst();
  const audit = await db
    .selectFrom('conflict_audit')
    .select(auditColumns)
    .where('hotel_code', '=', room.hotelCode)
    .where('room_code', '=', room.roomCode)
    .orderBy('id', 'desc')
    .limit(auditRows)
    .execute();
  return {
    room,
    workflowId,
    workflowUrl: `${ui.url.replace(/\/$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`,
    searchUrl: `${ui.url.replace(/\/$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows?query=${encodeURIComponent(`HotelCode="${room.hotelCode}" AND RoomCode="${room.roomCode}"`)}`,
    unified: unified ?? null,
    audit,
  };
}

export function formatRoomLookup(lookup: RoomLookup): string {
  const lines = [
    `room ${lookup.room.hotelCode}/${lookup.room.roomCode}`,
    `  workflow   ${lookup.workflowId}`,
    `  history    ${lookup.workflowUrl}`,
    `  find       ${lookup.searchUrl}`,
    `  replay     room-sync replay --room ${lookup.room.hotelCode}/${lookup.room.roomCode}`,
  ];
  if (lookup.unified === null) {
    lines.push('  unified    no row yet');
  } else {
    const row = lookup.unified;
    lines.push(
      `  unified    ${row['status']} · ${row['room_type']} · ${row['rate_minor']} ${row['currency']} · availability ${row['availability']} · class ${row['hotel_class']}`,
      `  sources    rate ${row['rate_source']}, availability ${row['availability_source']}, room_type ${row['room_type_source']}, status ${row['status_source']} · policy ${row['policy_version']}`,
    );
  }
  lines.push(`  audit      ${lookup.audit.length === 0 ? 'no conflicts recorded' : `newest ${lookup.audit.length}:`}`);
  for (const row of lookup.audit) {
    const resolvedAt: unknown = row['resolved_at']; // a Date from pg's parser; anything else is printed as it came
    const at = resolvedAt instanceof Date ? resolvedAt.toISOString() : String(resolvedAt);
    lines.push(
      `    #${row['id']} ${at} ${row['field']}: legacy ${JSON.stringify(row['legacy_value'])} vs cloud ${JSON.stringify(row['cloud_value'])} → ${row['winning_source']} (${row['rule']})`,
    );
  }
  return lines.join('\n');
}
