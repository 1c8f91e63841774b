// `replay`: recorded workflow histories against the current workflow code (src/cli/replay-command.ts).
import { examples, type CommandGroup } from '../context.js';

interface ReplayOptions {
  room?: string;
  workflowId?: string;
  runId?: string;
  file?: string;
}

export const registerReplayCommands: CommandGroup = (program, context) => {
  program
    .command('replay')
    .description('replay workflow histories against the current code; exit 1 on a divergence')
    .option('--room <HOTEL/ROOM>', "every run of the room's workflow")
    .option('--workflow-id <id>', 'any workflow (its latest run), or the id to replay --file under')
    .option('--run-id <run>', 'one run only')
    .option('--file <history.json>', 'a history exported by the Temporal UI or `temporal workflow show -o json`')
    .addHelpText(
      'after',
      examples('room-sync replay --room BER001/101', 'room-sync replay --file h.json --workflow-id room/BER001/101'),
    )
    .action(async (options: ReplayOptions) => {
      // Loaded on use: the replay needs the SDK's worker module, which the other commands do not load.
      const { commandReplay } = await import('../replay-command.js');
      context.exitWith(
        await commandReplay(context.config(), { room: options.room, workflowId: options.workflowId, runId: options.runId, file: options.file }),
      );
    });
};
