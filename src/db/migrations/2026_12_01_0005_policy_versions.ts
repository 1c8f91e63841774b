import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Every precedence policy that became active, newest last: the active one is the newest row.
  await sql`
    CREATE TABLE policy_versions (
      id           bigserial   PRIMARY KEY,
      version      text        NOT NULL,
      content_hash text        NOT NULL,
      content      jsonb       NOT NULL,
      source_text  text        NOT NULL,
      source_file  text,
      diff         jsonb       NOT NULL,
      applied_by   text        NOT NULL,
      applied_at   timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX policy_versions_version ON policy_versions (version, id)`.execute(db);
  // What was in force when is evidence, like the audit: never rewritten (0004's function).
  await sql`
    CREATE TRIGGER policy_versions_no_update_delete BEFORE UPDATE OR DELETE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);
  await sql`
    CREATE TRIGGER policy_versions_no_truncate BEFORE TRUNCATE ON policy_versions
    FOR EACH STATEMENT EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);

  // A re-resolution under a newly applied policy is audited with trigger_source 'policy' and the
  // policy's activation (policy_versions.id) as trigger_position: unique per apply, even of a version applied before.
  await sql`ALTER TABLE conflict_audit DROP CONSTRAINT conflict_audit_trigger_source_check`.execute(db);
  await sql`ALTER TABLE conflict_audit ADD CONSTRAINT conflict_audit_trigger_source_check CHECK (trigger_source IN ('legacy', 'cloud', 'policy'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS policy_versions`.execute(db);
  await sql`ALTER TABLE conflict_audit DROP CONSTRAINT conflict_audit_trigger_source_check`.execute(db);
  await sql`ALTER TABLE conflict_audit ADD CONSTRAINT conflict_audit_trigger_source_check CHECK (trigger_source IN ('legacy', 'cloud'))`.execute(db);
}
