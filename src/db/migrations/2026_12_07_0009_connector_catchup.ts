import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
//
// After a restart the lag monitor must tell a source that is catching up (its connector
// connected and reading, not yet at the WAL position current when it connected) from one
// still down. The connector records when it connected and that position; and when it found
// its slot lost (dropped or invalidated) and re-snapshotted, which the monitor raises as a
// warning alert of subject 'slot'.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE cdc_cursors
      ADD COLUMN connected_at      timestamptz,
      ADD COLUMN connected_wal_lsn text,
      ADD COLUMN slot_lost_at      timestamptz,
      ADD COLUMN slot_lost_reason  text CHECK (slot_lost_reason IN ('dropped', 'invalidated'))`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine', 'monitor', 'slot'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DELETE FROM alert_deliveries WHERE incident_key IN (SELECT incident_key FROM alerts WHERE subject = 'slot')`.execute(db);
  await sql`DELETE FROM alerts WHERE subject = 'slot'`.execute(db);
  await sql`ALTER TABLE alerts DROP CONSTRAINT alerts_subject_check`.execute(db);
  await sql`ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check CHECK (subject IN ('lag', 'quarantine', 'monitor'))`.execute(db);
  await sql`
    ALTER TABLE cdc_cursors
      DROP COLUMN connected_at,
      DROP COLUMN connected_wal_lsn,
      DROP COLUMN slot_lost_at,
      DROP COLUMN slot_lost_reason`.execute(db);
}
