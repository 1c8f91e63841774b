import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { AppConfig } from '../config/env.js';
import { createPool, createUnifiedDb } from '../db/connect.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { Logger } from '../observability/logger.js';

/** What every command module gets from src/cli/main.ts. */
export interface CliContext {
  readonly log: Logger;
  /** The environment's configuration, parsed once (a bad value: ConfigError, exit 2). */
  config(): AppConfig;
  /** The code the process exits with once the command's action returns (0 unless set). */
  exitWith(code: number): void;
}

/** A command module: adds its command (or group of subcommands) to the program. */
export type CommandGroup = (program: Command, context: CliContext) => void;

/** The `--help` text after the options: one example or more, as typed in a checkout. */
export function examples(...lines: readonly string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}`;
}

/** A one-connection unified database for a short command, closed whatever happens. */
export async function withUnifiedDb<T>(config: AppConfig, run: (db: Kysely<UnifiedDatabase>) => Promise<T>): Promise<T> {
  const db = createUnifiedDb(createPool(config.UNIFIED_DATABASE_URL, { maxConnections: 1 }));
  try {
    return await run(db);
  } finally {
    await db.destroy();
  }
}
