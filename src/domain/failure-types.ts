/** The failure type a room workflow quarantines on: this room's apply failed, again and again. */
export const roomApplyFailedType = 'RoomApplyFailed';
