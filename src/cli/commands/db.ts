// `migrate`: the unified schema (kysely migrations).
import { prepareUnifiedRoles } from '../../app/environment.js';
import type { AppConfig } from '../../config/env.js';
import { migrateToLatest } from '../../db/migrate.js';
import type { Logger } from '../../observability/logger.js';
import { examples, withUnifiedDb, type CommandGroup } from '../context.js';

export async function migrateUnified(config: AppConfig, log: Logger): Promise<void> {
  await withUnifiedDb(config, async (db) => {
    const applied = await migrateToLatest(db);
    log.info(applied.length > 0 ? 'migrated' : 'unified schema already up to date', { applied });
  });
  // Every migration may add a table: the pipeline's role gets its grants now.
  await prepareUnifiedRoles(config, log);
}

export const registerDbCommands: CommandGroup = (program, context) => {
  program
    .command('migrate')
    .description('bring the unified schema up to date')
    .addHelpText('after', examples('UNIFIED_DATABASE_URL=postgres://owner@db/unified_inventory room-sync migrate'))
    .action(async () => {
      await migrateUnified(context.config(), context.log);
    });
};
