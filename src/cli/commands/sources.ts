// `sources prepare`: what log-based CDC needs on both sources (idempotent).
import { prepareSources } from '../../app/environment.js';
import { examples, type CommandGroup } from '../context.js';

export const registerSourcesCommands: CommandGroup = (program, context) => {
  const sources = program
    .command('sources')
    .description('the two source databases')
    .addHelpText('after', examples('room-sync sources prepare'));
  sources
    .command('prepare')
    .description('publication, REPLICA IDENTITY FULL, heartbeat table (idempotent)')
    .addHelpText('after', examples('room-sync sources prepare'))
    .action(async () => {
      await prepareSources(context.config(), context.log);
      context.log.info('sources prepared');
    });
};
