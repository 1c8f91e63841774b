import type pg from 'pg';
import { heartbeatTable, pipelineSchema, type SourceDescriptor } from './source-descriptor.js';

export class SourceSetupError extends Error {
  override readonly name = 'SourceSetupError';
}

function quoteQualified(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

export interface PreparedSource {
  readonly createdPublication: boolean;
  readonly addedTables: readonly string[];
  readonly replicaIdentityChanged: readonly string[];
}

/**
 * Idempotent: what log-based CDC needs from a source and nothing more. A publication
 * over the captured tables and the heartbeat, REPLICA IDENTITY FULL so deletes and
 * key changes carry the old row, and the heartbeat table in a schema of its own.
 * Source tables' columns and rows are never touched. The slot is created by the
 * connector itself: only the connection that creates a slot can export the snapshot
 * that hands off to it without a gap.
 */
export async function prepareSource(pool: pg.Pool, descriptor: SourceDescriptor): Promise<PreparedSource> {
  const { rows: walRows } = await pool.query<{ wal_level: string }>('SHOW wal_level');
  if (walRows[0]?.wal_level !== 'logical') {
    throw new SourceSetupError(
      `${descriptor.source} source (${descriptor.databaseName}) has wal_level=${walRows[0]?.wal_level ?? '?'}; set wal_level=logical and restart its server`,
    );
  }
  const { rows: present } = await pool.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname || '.' || c.relname = ANY($1)`,
    [descriptor.tables],
  );
  const missing = descriptor.tables.filter((table) => !present.some((row) => row.name === table));
  if (missing.length > 0) {
    throw new SourceSetupError(`${descriptor.source} source (${descriptor.databaseName}) lacks table(s) ${missing.join(', ')}`);
  }

  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pipelineSchema}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${heartbeatTable} (
       source  text        PRIMARY KEY,
       beat_at timestamptz NOT NULL,
       beats   bigint      NOT NULL DEFAULT 0
     )`,
  );

  const replicaIdentityChanged: string[] = [];
  for (const table of descriptor.tables) {
    const { rows } = await pool.query<{ relreplident: string }>('SELECT relreplident FROM pg_class WHERE oid = $1::regclass', [table]);
    if (rows[0]?.relreplident !== 'f') {
      await pool.query(`ALTER TABLE ${quoteQualified(table)} REPLICA IDENTITY FULL`);
      replicaIdentityChanged.push(table);
    }
  }

  const wanted = [...descriptor.tables, heartbeatTable];
  const { rows: publications } = await pool.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [descriptor.publicationName]);
  const createdPublication = publications.length === 0;
  let addedTables: string[] = [];
  if (createdPublication) {
    await pool.query(
      `CREATE PUBLICATION "${descriptor.publicationName}" FOR TABLE ${wanted.map(quoteQualified).join(', ')}`,
    );
  } else {
    const { rows: published } = await pool.query<{ name: string }>(
      `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1`,
      [descriptor.publicationName],
    );
    addedTables = wanted.filter((table) => !published.some((row) => row.name === table));
    if (addedTables.length > 0) {
      await pool.query(`ALTER PUBLICATION "${descriptor.publicationName}" ADD TABLE ${addedTables.map(quoteQualified).join(', ')}`);
    }
  }
  return { createdPublication, addedTables, replicaIdentityChanged };
}
