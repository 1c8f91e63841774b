import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
// `room-sync reconcile`: each run's counts per source (the status line and the metric read
// the newest), a reason on the legacy property when a reconcile repaired it (carried into the
// rooms' field history), and alerts about drift.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE reconcile_runs (
      id bigserial PRIMARY KEY,
      source text NOT NULL CHECK (source IN ('legacy', 'cloud')),
      origin text NOT NULL,
      hotel_code text,
      snapshot_position text NOT NULL,
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL DEFAULT now(),
      compared integer NOT NULL,
      equal integer NOT NULL,
      newer integer NOT NULL,
      drifted integer NOT NULL,
      missing integer NOT NULL,
      extra integer NOT NULL,
      unmappable integer NOT NULL,
      repaired integer NOT NULL,
      unresolved integer NOT NULL,
      sample jsonb NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX reconcile_runs_source_id ON reconcile_runs (source, id DESC)`.execute(db);
  await sql`ALTER TABLE legacy_hotels ADD COLUMN reason text`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine', 'monitor', 'slot', 'reconcile'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DELETE FROM alert_deliveries WHERE incident_key IN (SELECT incident_key FROM alerts WHERE subject = 'reconcile')`.execute(db);
  await sql`DELETE FROM alerts WHERE subject = 'reconcile'`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine', 'monitor', 'slot'))`.execute(db);
  await sql`ALTER TABLE legacy_hotels DROP COLUMN reason`.execute(db);
  await sql`DROP TABLE reconcile_runs`.execute(db);
}
