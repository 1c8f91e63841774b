import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import pg from 'pg';
import type { UnifiedDatabase } from './schema.js';

/** Statement text to its prepared statement's name: the hot statements whose parse and plan each connection keeps. */
const statementNames = new Map<string, string>();

/**
 * Marks a compiled query's text as a named prepared statement: each connection parses and
 * plans it once, then only binds and executes it. Only for statements whose text never
 * varies (values travel as parameters), or every variant would stay prepared on the connection.
 */
export function asPreparedStatement<R>(compiled: CompiledQuery<R>): CompiledQuery<R> {
  if (!statementNames.has(compiled.sql)) statementNames.set(compiled.sql, `room_sync_${createHash('sha256').update(compiled.sql).digest('hex').slice(0, 24)}`);
  return compiled;
}

/** kysely runs queries as `client.query(text, values)`; a text marked by asPreparedStatement goes by its name. */
class PreparingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const plain = this.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((...args: unknown[]) => {
      const [text, values, callback] = args;
      const name = typeof text === 'string' && Array.isArray(values) && callback === undefined ? statementNames.get(text) : undefined;
      return name === undefined ? plain(...args) : plain({ name, text, values });
    }) as pg.Client['query'];
  }
}

export interface PoolOptions {
  readonly maxConnections?: number;
  readonly applicationName?: string;
  /** Statements marked by asPreparedStatement run as named prepared statements (default); false: every statement unnamed. */
  readonly preparedStatements?: boolean;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'room-sync',
    idleTimeoutMillis: 30_000,
    Client: options.preparedStatements === false ? pg.Client : PreparingClient,
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
