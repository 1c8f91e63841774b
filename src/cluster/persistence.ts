// The cluster's two databases (history and visibility) on the configured Postgres, made
// and kept at the schema version of the built server by temporal-sql-tool itself:
// create-database and setup-schema the first time, update-schema from the module's
// versioned folder every time (a no-op when current).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Log } from '../setup/go-install.js';
import type { ClusterLayout } from './layout.js';

const execFileAsync = promisify(execFile);

type Store = 'main' | 'visibility';

function toolArgs(layout: ClusterLayout, database: string): string[] {
  const { postgres } = layout;
  return ['--plugin', 'postgres12', '--endpoint', postgres.host, '--port', String(postgres.port), '--user', postgres.user, '--database', database];
}

async function runTool(sqlTool: string, layout: ClusterLayout, database: string, command: readonly string[]): Promise<void> {
  try {
    // The password travels in the environment (SQL_PASSWORD), not on the command line other users can read.
    await execFileAsync(sqlTool, [...toolArgs(layout, database), ...command], {
      env: { ...process.env, SQL_PASSWORD: layout.postgres.password },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const output = error instanceof Error && 'stderr' in error ? String((error as { stderr: unknown }).stderr).slice(-2_000) : '';
    throw new Error(`temporal-sql-tool ${command[0] ?? ''} on ${database} failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n${output}`);
  }
}

function adminPool(layout: ClusterLayout, database = 'postgres'): pg.Pool {
  const { postgres } = layout;
  return new pg.Pool({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database, max: 1 });
}

async function databaseState(layout: ClusterLayout, database: string): Promise<'missing' | 'empty' | 'versioned'> {
  const admin = adminPool(layout);
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) return 'missing';
  } finally {
    await admin.end();
  }
  const pool = adminPool(layout, database);
  try {
    const { rows } = await pool.query<{ versioned: boolean }>(`SELECT to_regclass('schema_version') IS NOT NULL AS versioned`);
    return rows[0]?.versioned === true ? 'versioned' : 'empty';
  } finally {
    await pool.end();
  }
}

/** Both databases at the schema version of the server built here; says what it did. */
export async function ensureClusterSchemas(sqlTool: string, layout: ClusterLayout, schemaDirs: Record<Store, string>, log: Log): Promise<void> {
  for (const store of ['main', 'visibility'] as const) {
    const database = layout.databases[store];
    const state = await databaseState(layout, database);
    if (state === 'missing') {
      await runTool(sqlTool, layout, database, ['create-database']);
      log(`created database ${database}`);
    }
    if (state !== 'versioned') {
      await runTool(sqlTool, layout, database, ['setup-schema', '-v', '0.0']);
    }
    await runTool(sqlTool, layout, database, ['update-schema', '-d', schemaDirs[store]]);
    log(`${database}: schema ${state === 'versioned' ? 'checked' : 'set up'} (${store === 'main' ? 'history' : 'visibility'} store)`);
  }
}

/** Drops both databases (the test suite's own, at its end). */
export async function dropClusterDatabases(layout: ClusterLayout): Promise<void> {
  const admin = adminPool(layout);
  try {
    for (const database of [layout.databases.main, layout.databases.visibility]) {
      await admin.query(`DROP DATABASE IF EXISTS "${database.replace(/"/g, '""')}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
