// `dead-letters retry`: a room's dead-lettered changes delivered again, after a fix.
import { ConfigError } from '../../config/env.js';
import { Resources } from '../../app/resources.js';
import { parseRoomKey } from '../../app/room-lookup.js';
import { retryRoomDeadLetters, roomsWithOpenDeadLetters } from '../../app/dead-letter-retry.js';
import { examples, type CommandGroup } from '../context.js';

export const registerDeadLetterCommands: CommandGroup = (program, context) => {
  const deadLetters = program
    .command('dead-letters')
    .description('changes whose apply failed')
    .addHelpText('after', examples('room-sync dead-letters retry --room BER001/101'));
  deadLetters
    .command('retry')
    .description('deliver dead-lettered changes again and wait for them; exit 1 if any fails again')
    .option('--room <HOTEL/ROOM>', 'that room only (default: every room with open dead letters)')
    .addHelpText('after', examples('room-sync dead-letters retry --room BER001/101', 'room-sync dead-letters retry'))
    .action(async (options: { room?: string }) => {
      const config = context.config();
      const roomArg = options.room;
      const parsedRoom = roomArg === undefined ? null : parseRoomKey([roomArg]);
      if (roomArg !== undefined && parsedRoom === null) throw new ConfigError(`--room: expected HOTEL/ROOM, got ${JSON.stringify(roomArg)}`);
      const resources = new Resources(config);
      try {
        const rooms = parsedRoom ? [parsedRoom] : await roomsWithOpenDeadLetters(resources.unified());
        if (rooms.length === 0) process.stdout.write('no dead-lettered changes to retry\n');
        let failedAgain = 0;
        for (const room of rooms) {
          const outcome = await retryRoomDeadLetters(resources.unified(), await resources.client(), config.TEMPORAL_TASK_QUEUE, room, {
            onProgress: (message) => process.stderr.write(`${message}\n`),
          });
          failedAgain += outcome.failedAgain;
          process.stdout.write(
            `${outcome.room}: ${outcome.retried} retried, ${outcome.applied} applied, ${outcome.failedAgain} dead-lettered again` +
              (outcome.notMappable > 0 ? `, ${outcome.notMappable} not a change (left as they are)` : '') +
              '\n',
          );
        }
        // Every retried change is settled either way; a change that failed again is in dead_letters with its new error.
        context.exitWith(failedAgain > 0 ? 1 : 0);
      } finally {
        await resources.close();
      }
    });
};
