import pg from 'pg';
import { prepareSource } from '../src/cdc/source-setup.js';
import { describeSource } from '../src/cdc/source-descriptor.js';
import { createPool, createUnifiedDb } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { dropDatabase, ensureDatabase, ensureLogicalReplication, ensurePostgresRunning } from '../src/setup/postgres.js';
import { ensureSourceCdcRole, ensureUnifiedPipelineRole } from '../src/setup/roles.js';
import { ensureSourceSchema } from '../src/setup/source-schemas.js';
import { adminUrl, benchDatabaseNames, databaseUrl as databaseUrlOn, type DatabaseNames } from './config.js';

/**
 * Bench-only additions to the unified database: the naive baseline's table, and a
 * trigger on both room tables that notes when a row starts reflecting a source commit.
 * `legacy_commit_time` / `cloud_commit_time` hold the commit time of the newest change
 * each source contributed, so (commit time, clock_timestamp()) is the end-to-end latency
 * on the database's own clock.
 */
const benchSchema = `
CREATE TABLE bench_applied (
  id          bigserial   PRIMARY KEY,
  target      text        NOT NULL,
  hotel_code  text        NOT NULL,
  room_code   text        NOT NULL,
  source      text        NOT NULL,
  commit_time timestamptz NOT NULL,
  applied_at  timestamptz NOT NULL
);

CREATE TABLE baseline_rooms (
  hotel_code         text        NOT NULL,
  room_code          text        NOT NULL,
  room_type          text,
  rate_minor         bigint,
  currency           char(3),
  availability       integer,
  status             text        NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  legacy_commit_time timestamptz,
  cloud_commit_time  timestamptz,
  PRIMARY KEY (hotel_code, room_code)
);

-- The floor (bench/floor): the room's row, and one row per change applied.
CREATE TABLE floor_rooms (LIKE baseline_rooms INCLUDING ALL);
CREATE TABLE floor_changes (
  id          bigserial   PRIMARY KEY,
  hotel_code  text        NOT NULL,
  room_code   text        NOT NULL,
  source      text        NOT NULL,
  position    text        NOT NULL,
  commit_time timestamptz NOT NULL,
  applied_at  timestamptz NOT NULL
);

CREATE FUNCTION bench_note_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.legacy_commit_time IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.legacy_commit_time IS DISTINCT FROM OLD.legacy_commit_time) THEN
    INSERT INTO bench_applied (target, hotel_code, room_code, source, commit_time, applied_at)
    VALUES (TG_ARGV[0], NEW.hotel_code, NEW.room_code, 'legacy', NEW.legacy_commit_time, clock_timestamp());
  END IF;
  IF NEW.cloud_commit_time IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.cloud_commit_time IS DISTINCT FROM OLD.cloud_commit_time) THEN
    INSERT INTO bench_applied (target, hotel_code, room_code, source, commit_time, applied_at)
    VALUES (TG_ARGV[0], NEW.hotel_code, NEW.room_code, 'cloud', NEW.cloud_commit_time, clock_timestamp());
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER bench_note_applied AFTER INSERT OR UPDATE ON unified_rooms
  FOR EACH ROW EXECUTE FUNCTION bench_note_applied('ours');
CREATE TRIGGER bench_note_applied AFTER INSERT OR UPDATE ON baseline_rooms
  FOR EACH ROW EXECUTE FUNCTION bench_note_applied('baseline');
CREATE TRIGGER bench_note_applied AFTER INSERT OR UPDATE ON floor_rooms
  FOR EACH ROW EXECUTE FUNCTION bench_note_applied('floor');
`;

const quiet = () => undefined;

export async function dropBenchDatabases(): Promise<void> {
  await dropDatabases(benchDatabaseNames);
}

export async function dropDatabases(names: DatabaseNames): Promise<void> {
  for (const name of Object.values(names)) await dropDatabase(adminUrl(), name);
}

/** Drops and recreates the three bench databases: contract DDL, unified migrations, CDC set-up, bench tables. */
export async function recreateBenchDatabases(log: (message: string) => void): Promise<void> {
  await recreateDatabases(benchDatabaseNames, log, { benchTables: true });
}

/** Drops and recreates three databases as the pipeline needs them; the bench's latency tables only where asked for. */
export async function recreateDatabases(names: DatabaseNames, log: (message: string) => void, options: { readonly benchTables: boolean }): Promise<void> {
  const databaseUrl = (database: 'legacy' | 'cloud' | 'unified') => databaseUrlOn(database, names);
  await ensurePostgresRunning(adminUrl(), log);
  await ensureLogicalReplication(adminUrl(), log);
  await dropDatabases(names);
  for (const database of ['legacy', 'cloud', 'unified'] as const) await ensureDatabase(adminUrl(), databaseUrl(database), quiet);
  for (const source of ['legacy', 'cloud'] as const) {
    const pool = createPool(databaseUrl(source), { maxConnections: 1 });
    try {
      await ensureSourceSchema(pool, source);
      await prepareSource(pool, describeSource(source, databaseUrl(source)));
    } finally {
      await pool.end();
    }
  }
  const unified = createUnifiedDb(createPool(databaseUrl('unified'), { maxConnections: 1 }));
  try {
    await migrateToLatest(unified);
  } finally {
    await unified.destroy();
  }
  if (options.benchTables) {
    const client = new pg.Client({ connectionString: databaseUrl('unified') });
    await client.connect();
    try {
      await client.query(benchSchema);
    } finally {
      await client.end();
    }
  }
  // The worker and connectors run as the pipeline's roles, as `npm start` does: grants after the bench's own tables too.
  await ensureUnifiedPipelineRole(databaseUrl('unified'), quiet);
  for (const source of ['legacy', 'cloud'] as const) await ensureSourceCdcRole(databaseUrl(source), source, quiet);
}
