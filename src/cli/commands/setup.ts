// `setup`: Postgres ready for logical replication, the Temporal CLI built, the schema migrated.
import { prepareRolesOfPreparedSources, preparePostgres } from '../../app/environment.js';
import { adminUrlFor, dropDatabasesWithPrefix } from '../../setup/postgres.js';
import { ensureTemporalCli } from '../../setup/temporal.js';
import { ensureClusterBinaries } from '../../cluster/binaries.js';
import { ensureChromium } from '../../setup/chromium.js';
import { ensurePromtool } from '../../setup/promtool.js';
import { projectRoot } from '../../setup/source-schemas.js';
import { examples, type CommandGroup } from '../context.js';
import { migrateUnified } from './db.js';

/** Test suites create their databases with this prefix (test/support/environment.ts). */
const testDatabasePrefix = 'rs_test_';

export const registerSetupCommands: CommandGroup = (program, context) => {
  program
    .command('setup')
    .description('set-up only: Postgres, the Temporal CLI, the unified schema')
    .option('--tests', 'for the test suites instead: Chromium, promtool, the Temporal server for the cluster suite, and drop databases abandoned by earlier test runs (no migration)')
    .addHelpText('after', examples('room-sync setup', 'room-sync setup --tests'))
    .action(async (options: { tests?: boolean }) => {
      const config = context.config();
      const log = context.log;
      await preparePostgres(config, log);
      await ensureTemporalCli(projectRoot, (message) => log.info(message));
      if (options.tests) {
        await ensureChromium((message) => log.info(message));
        await ensurePromtool((message) => log.info(message));
        await ensureClusterBinaries(projectRoot, (message) => log.info(message));
        const dropped = await dropDatabasesWithPrefix(adminUrlFor(config.UNIFIED_DATABASE_URL), testDatabasePrefix);
        if (dropped.length > 0) log.info('dropped databases left by earlier test runs', { dropped });
      } else {
        // The unified schema and the pipeline's role on it; the connector's role on each source prepared for CDC.
        await migrateUnified(config, log);
        await prepareRolesOfPreparedSources(config, log);
      }
    });
};
