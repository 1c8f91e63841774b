import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Tamper evidence: each audit row hashes its content and the previous row of its room.
  await sql`ALTER TABLE conflict_audit ADD COLUMN prev_hash text`.execute(db);
  await sql`ALTER TABLE conflict_audit ADD COLUMN row_hash text`.execute(db);
  await sql`CREATE INDEX conflict_audit_chain ON conflict_audit (hotel_code, room_code, id)`.execute(db);

  // Every change of a unified field's value or provenance, so a row can be rebuilt as of any moment.
  await sql`
    CREATE TABLE unified_field_history (
      id                 bigserial   PRIMARY KEY,
      hotel_code         text        NOT NULL,
      room_code          text        NOT NULL,
      field              text        NOT NULL CHECK (field IN ('rate', 'availability', 'room_type', 'status')),
      value              jsonb       NOT NULL,
      source             text        CHECK (source IN ('legacy', 'cloud')),
      rule               text        NOT NULL,
      policy_version     text        NOT NULL,
      hotel_class        text        NOT NULL,
      legacy_value       jsonb       NOT NULL,
      cloud_value        jsonb       NOT NULL,
      source_position    text,
      source_commit_time timestamptz,
      applied_at         timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX unified_field_history_room ON unified_field_history (hotel_code, room_code, field, id)`.execute(db);
  await sql`CREATE INDEX unified_field_history_applied_at ON unified_field_history (applied_at)`.execute(db);
  await sql`
    CREATE FUNCTION audit_table_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER unified_field_history_no_update_delete BEFORE UPDATE OR DELETE ON unified_field_history
    FOR EACH ROW EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);
  await sql`
    CREATE TRIGGER unified_field_history_no_truncate BEFORE TRUNCATE ON unified_field_history
    FOR EACH STATEMENT EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS unified_field_history`.execute(db);
  await sql`DROP FUNCTION IF EXISTS audit_table_is_append_only()`.execute(db);
  await sql`DROP INDEX IF EXISTS conflict_audit_chain`.execute(db);
  await sql`ALTER TABLE conflict_audit DROP COLUMN prev_hash, DROP COLUMN row_hash`.execute(db);
}
