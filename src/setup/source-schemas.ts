import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { SourceName } from '../domain/room.js';
import { capturedTables } from '../cdc/source-descriptor.js';

/** The checkout: the nearest folder above this module with a package.json (src/setup in the sources, or wherever a build put the module). */
export const projectRoot = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '../..');
  }
}

/** The two source systems' tables as they exist today, carried by the project (src/setup/sources). */
export const bundledSourceDdlDir = join(projectRoot, 'src', 'setup', 'sources');

/** Where the demo and test source DDL is read from; SOURCE_DDL_DIR overrides the bundled copy. */
export function sourceDdlDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['SOURCE_DDL_DIR'] ?? bundledSourceDdlDir;
}

/**
 * Creates a source's tables from the contract's DDL when they are missing: for the
 * local demo and the tests only. A real source already has them and is never altered.
 */
export async function ensureSourceSchema(pool: pg.Pool, source: SourceName, ddlDir = sourceDdlDir()): Promise<boolean> {
  const { rows } = await pool.query<{ present: number }>(
    `SELECT count(*)::int AS present FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname || '.' || c.relname = ANY($1)`,
    [capturedTables[source]],
  );
  if ((rows[0]?.present ?? 0) === capturedTables[source].length) return false;
  const file = join(ddlDir, `${source}.sql`);
  let ddl: string;
  try {
    ddl = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the ${source} source DDL at ${file} (set SOURCE_DDL_DIR to the folder holding legacy.sql and cloud.sql)`, {
      cause: error,
    });
  }
  await pool.query(ddl);
  return true;
}
