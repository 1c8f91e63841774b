import { defaultRoomRouting, roomRoutingSchema, type RoomRouting } from '../../src/routing/room-routing.js';

/** The routing a suite runs under: TEST_ROOM_ROUTING when a suite file sets it, else the production default. */
export function testRouting(): RoomRouting {
  const spec = process.env['TEST_ROOM_ROUTING'];
  return spec === undefined ? defaultRoomRouting : roomRoutingSchema.parse(spec);
}
