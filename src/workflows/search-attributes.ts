import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Keyword search attributes on room-sync's workflows, so ops find a room in the Temporal
 * UI (`HotelCode = 'BER001' AND RoomCode = '101'`). The set-up registers them.
 */
export const hotelCodeKey = defineSearchAttributeKey('HotelCode', SearchAttributeType.KEYWORD);
export const roomCodeKey = defineSearchAttributeKey('RoomCode', SearchAttributeType.KEYWORD);
export const hotelClassKey = defineSearchAttributeKey('HotelClass', SearchAttributeType.KEYWORD);
export const policyVersionKey = defineSearchAttributeKey('PolicyVersion', SearchAttributeType.KEYWORD);
/** What a workflow is for: `room`, `lag-monitor`, `re-resolution` (of a newly applied policy), or a `room-group` left by an earlier release. */
export const syncRoleKey = defineSearchAttributeKey('SyncRole', SearchAttributeType.KEYWORD);

export const roomSyncSearchAttributes = [hotelCodeKey, roomCodeKey, hotelClassKey, policyVersionKey, syncRoleKey] as const;

/** What a room workflow starts with: its keys and role (HotelClass and PolicyVersion follow its row). */
export function roomSearchAttributes(room: { readonly hotelCode: string; readonly roomCode: string }) {
  return [
    { key: hotelCodeKey, value: room.hotelCode },
    { key: roomCodeKey, value: room.roomCode },
    { key: syncRoleKey, value: 'room' },
  ];
}
