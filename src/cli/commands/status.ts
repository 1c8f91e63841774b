// `status`: lag, unapplied changes, alerts, quarantined rooms, what is sellable.
import { formatHealthReport, readPipelineCounts, readPipelineHealth } from '../../app/status.js';
import { formatReconcileStatus, readLastReconciles } from '../../reconcile/run.js';
import { examples, withUnifiedDb, type CommandGroup } from '../context.js';

export const registerStatusCommands: CommandGroup = (program, context) => {
  program
    .command('status')
    .description('lag, alerts, quarantined rooms, what is sellable; exit 3 while paging or quarantined')
    .addHelpText('after', examples('room-sync status || echo "paging or quarantined: exit $?"'))
    .action(async () => {
      const code = await withUnifiedDb(context.config(), async (db) => {
        const counts = await readPipelineCounts(db);
        const health = await readPipelineHealth(db);
        process.stdout.write(`${formatHealthReport(counts, health)}\n${formatReconcileStatus(await readLastReconciles(db), new Date())}\n`);
        // Exit 3 while any source is paging or a room is quarantined (a quarantined room pages too), so scripts and probes can act on it.
        return health.sources.some((source) => source.alert === 'page') || counts.quarantined.length > 0 ? 3 : 0;
      });
      context.exitWith(code);
    });
};
