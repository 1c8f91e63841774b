// `reconcile`: is the unified view right? Both live sources against room_sources, and each unified row against its stored sources.
import { Option } from 'commander';
import { Resources } from '../../app/resources.js';
import { readActivePolicy } from '../../db/policy-repository.js';
import { normalizeCode, type SourceName } from '../../domain/room.js';
import { loadPolicy } from '../../policy/load.js';
import { formatReconcile, runReconcile } from '../../reconcile/run.js';
import { ConfigError } from '../../config/env.js';
import { examples, type CommandGroup } from '../context.js';

interface ReconcileCommandOptions {
  readonly source: 'legacy' | 'cloud' | 'both';
  readonly hotel?: string;
  readonly repair?: boolean;
  readonly json?: boolean;
  readonly wait: string;
}

export const registerReconcileCommands: CommandGroup = (program, context) => {
  program
    .command('reconcile')
    .description('compare both live sources with what the pipeline stores (and each unified row with its sources); exit 0 when nothing differs, 1 when something does')
    .addOption(new Option('--source <source>', 'which source to read').choices(['legacy', 'cloud', 'both']).default('both'))
    .option('--hotel <CODE>', 'one hotel only')
    .option('--repair', 'deliver the source\'s row (or its absence) to every room that differs, through its workflow, then compare again')
    .option('--json', 'one JSON object on stdout')
    .option('--wait <seconds>', 'how long a difference may wait for the pipeline to catch up with the snapshot (and a repair to be applied)', '60')
    .addHelpText(
      'after',
      examples('room-sync reconcile', 'room-sync reconcile --source legacy --hotel BER001', 'room-sync reconcile --repair', 'room-sync reconcile --json | jq .sources'),
    )
    .action(async (options: ReconcileCommandOptions) => {
      const waitSeconds = Number(options.wait);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new ConfigError(`reconcile: --wait wants a number of seconds, not ${JSON.stringify(options.wait)}`);
      if (options.hotel !== undefined && normalizeCode(options.hotel) === '') throw new ConfigError('reconcile: --hotel wants a hotel code');
      const config = context.config();
      const sources: SourceName[] = options.source === 'both' ? ['legacy', 'cloud'] : [options.source];
      const resources = new Resources(config);
      try {
        const db = resources.unified();
        const policy = (await readActivePolicy(db))?.policy ?? (await loadPolicy(config.POLICY_FILE));
        const result = await runReconcile(
          {
            db,
            source: async (source) => ({ descriptor: await resources.sourceDescriptor(source), pool: await resources.sourcePool(source) }),
            temporal: async () => ({ client: await resources.client(), taskQueue: config.TEMPORAL_TASK_QUEUE }),
            log: context.log,
            onProgress: (message) => process.stderr.write(`${message}\n`),
          },
          {
            sources,
            ...(options.hotel === undefined ? {} : { hotel: normalizeCode(options.hotel) }),
            repair: options.repair === true,
            confirmTimeoutMs: waitSeconds * 1000,
            repairTimeoutMs: Math.max(waitSeconds, 60) * 1000,
            policy,
            origin: 'cli',
          },
        );
        process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${formatReconcile(result)}\n`);
        context.exitWith(result.differs ? 1 : 0);
      } finally {
        await resources.close();
      }
    });
};
