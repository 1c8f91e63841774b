// `seed`, `simulate`: the demo's parts alone.
import { Resources } from '../../app/resources.js';
import { seedDemo } from '../../demo/seed.js';
import { PartnerTrafficSimulator } from '../../demo/simulator.js';
import { examples, type CommandGroup } from '../context.js';
import { untilSignal } from '../lifecycle.js';
import { demoChangesPerSecond } from './run.js';

export const registerDemoCommands: CommandGroup = (program, context) => {
  program
    .command('seed')
    .description("the demo's hotels (into empty sources only)")
    .addHelpText('after', examples('room-sync seed'))
    .action(async () => {
      const resources = new Resources(context.config());
      try {
        const rooms = await seedDemo(resources.partnerPool('legacy'), resources.partnerPool('cloud'));
        context.log.info(rooms > 0 ? 'seeded demo hotels' : 'sources not empty: nothing seeded', { rooms });
      } finally {
        await resources.close();
      }
    });

  program
    .command('simulate')
    .description('demo partner traffic into both sources until Ctrl-C')
    .addHelpText('after', examples('DEMO_CHANGES_PER_SECOND=20 room-sync simulate'))
    .action(async () => {
      const resources = new Resources(context.config());
      const simulator = new PartnerTrafficSimulator(resources.partnerPool('legacy'), resources.partnerPool('cloud'), {
        changesPerSecond: demoChangesPerSecond(),
        badRowEvery: 150,
        log: context.log,
      });
      simulator.start();
      await untilSignal(context.log, () => simulator.stop());
      await resources.close();
    });
};
