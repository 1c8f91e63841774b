import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { UnifiedDatabase } from './schema.js';

export interface PoolOptions {
  readonly maxConnections?: number;
  readonly applicationName?: string;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'room-sync',
    idleTimeoutMillis: 30_000,
  });
  // An idle connection dropped by the server (restart, failover) must not crash the process;
  // the pool replaces it and the next query reports any lasting problem.
  pool.on('error', () => undefined);
  // A connection the server ends while checked out (pg_terminate_backend, a crash restart between two
  // statements of a transaction) emits 'error' on its client, which the pool does not listen to then:
  // unheard, it would end the process. The caller's next query fails and the pool discards the client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** One pool per process and database: activities and connectors share it, never a connection per call. */
export function createUnifiedDb(pool: pg.Pool): Kysely<UnifiedDatabase> {
  return new Kysely<UnifiedDatabase>({ dialect: new PostgresDialect({ pool }) });
}
