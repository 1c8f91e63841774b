// `room HOTEL/ROOM`: where ops look first when a room is disputed.
import { ConfigError } from '../../config/env.js';
import { formatRoomLookup, lookUpRoom, parseRoomKey } from '../../app/room-lookup.js';
import { examples, withUnifiedDb, type CommandGroup } from '../context.js';

export const registerRoomCommands: CommandGroup = (program, context) => {
  program
    .command('room')
    .description("a room's workflow (UI links), unified row and newest audit rows")
    .argument('[HOTEL/ROOM...]', 'HOTEL/ROOM, or HOTEL ROOM')
    .addHelpText('after', examples('room-sync room BER001/101'))
    .action(async (words: string[]) => {
      const config = context.config();
      const room = parseRoomKey(words);
      if (room === null) throw new ConfigError('usage: room-sync room HOTEL/ROOM');
      await withUnifiedDb(config, async (db) => {
        const lookup = await lookUpRoom(db, room, { url: config.TEMPORAL_UI_URL, namespace: config.TEMPORAL_NAMESPACE });
        process.stdout.write(`${formatRoomLookup(lookup)}\n`);
      });
    });
};
