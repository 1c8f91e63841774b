import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
// Alerts about the lag monitor itself: its check failing (no source: the unified database,
// or the check as a whole) or one source it cannot read (that source).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine', 'monitor'))`.execute(db);
  await sql`ALTER TABLE alerts ALTER COLUMN source DROP NOT NULL`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_source_present CHECK (source IS NOT NULL OR subject = 'monitor')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DELETE FROM alert_deliveries WHERE incident_key IN (SELECT incident_key FROM alerts WHERE subject = 'monitor')`.execute(db);
  await sql`DELETE FROM alerts WHERE subject = 'monitor'`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_source_present`.execute(db);
  await sql`ALTER TABLE alerts ALTER COLUMN source SET NOT NULL`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine'))`.execute(db);
}
