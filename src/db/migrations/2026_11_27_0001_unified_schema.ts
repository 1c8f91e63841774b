import { sql, type Kysely } from 'kysely';

// Migrations are frozen in time: they use raw SQL and no table types from the code.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE unified_rooms (
      hotel_code              text        NOT NULL,
      room_code               text        NOT NULL,
      hotel_class             text        NOT NULL,
      room_type               text,
      rate_minor              bigint,
      currency                char(3),
      availability            integer,
      status                  text        NOT NULL CHECK (status IN ('open', 'closed', 'removed')),
      rate_source             text        NOT NULL CHECK (rate_source IN ('legacy', 'cloud')),
      availability_source     text        NOT NULL CHECK (availability_source IN ('legacy', 'cloud')),
      room_type_source        text        NOT NULL CHECK (room_type_source IN ('legacy', 'cloud')),
      status_source           text        NOT NULL CHECK (status_source IN ('legacy', 'cloud')),
      policy_version          text        NOT NULL,
      updated_at              timestamptz NOT NULL DEFAULT now(),
      legacy_position         text,
      cloud_position          text,
      legacy_commit_time      timestamptz,
      cloud_commit_time       timestamptz,
      last_change_commit_time timestamptz,
      PRIMARY KEY (hotel_code, room_code),
      CHECK ((rate_minor IS NULL) = (currency IS NULL))
    )`.execute(db);

  await sql`
    CREATE TABLE conflict_audit (
      id                    bigserial   PRIMARY KEY,
      hotel_code            text        NOT NULL,
      room_code             text        NOT NULL,
      field                 text        NOT NULL CHECK (field IN ('rate', 'availability', 'room_type', 'status')),
      legacy_value          jsonb       NOT NULL,
      cloud_value           jsonb       NOT NULL,
      winning_value         jsonb       NOT NULL,
      winning_source        text        NOT NULL CHECK (winning_source IN ('legacy', 'cloud')),
      rule                  text        NOT NULL,
      policy_version        text        NOT NULL,
      resolved_at           timestamptz NOT NULL DEFAULT now(),
      hotel_class           text        NOT NULL,
      legacy_position       text,
      legacy_hotel_position text,
      cloud_position        text,
      trigger_source        text        NOT NULL CHECK (trigger_source IN ('legacy', 'cloud')),
      trigger_position      text        NOT NULL,
      -- One change raises at most one conflict per field: a replayed change cannot add a second row.
      UNIQUE (hotel_code, room_code, field, trigger_source, trigger_position)
    )`.execute(db);
  await sql`CREATE INDEX conflict_audit_room ON conflict_audit (hotel_code, room_code, resolved_at)`.execute(db);
  await sql`CREATE INDEX conflict_audit_resolved_at ON conflict_audit (resolved_at)`.execute(db);

  // Legal relies on nothing ever rewriting the log, so the database itself refuses it.
  await sql`
    CREATE FUNCTION conflict_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'conflict_audit is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END
    $$`.execute(db);
  await sql`
    CREATE TRIGGER conflict_audit_no_update_delete BEFORE UPDATE OR DELETE ON conflict_audit
    FOR EACH ROW EXECUTE FUNCTION conflict_audit_is_append_only()`.execute(db);
  await sql`
    CREATE TRIGGER conflict_audit_no_truncate BEFORE TRUNCATE ON conflict_audit
    FOR EACH STATEMENT EXECUTE FUNCTION conflict_audit_is_append_only()`.execute(db);

  await sql`
    CREATE TABLE room_sources (
      hotel_code   text        NOT NULL,
      room_code    text        NOT NULL,
      legacy       jsonb,
      cloud        jsonb,
      legacy_hotel jsonb,
      updated_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (hotel_code, room_code)
    )`.execute(db);

  await sql`
    CREATE TABLE legacy_hotels (
      hotel_code  text        PRIMARY KEY,
      present     boolean     NOT NULL,
      mgmt_typ    text        NOT NULL,
      currency    char(3)     NOT NULL,
      position    text        NOT NULL,
      commit_time timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE cloud_properties (
      property_id uuid        PRIMARY KEY,
      hotel_code  text        NOT NULL,
      present     boolean     NOT NULL,
      position    text        NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE dead_letters (
      id          bigserial   PRIMARY KEY,
      source      text        NOT NULL CHECK (source IN ('legacy', 'cloud')),
      table_name  text        NOT NULL,
      position    text        NOT NULL,
      commit_time timestamptz,
      row_key     text        NOT NULL,
      raw         jsonb       NOT NULL,
      reason      text        NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      -- A replayed stream re-delivers the same bad row: keep one copy.
      UNIQUE (source, table_name, position, row_key)
    )`.execute(db);

  await sql`
    CREATE TABLE cdc_cursors (
      source                  text        PRIMARY KEY CHECK (source IN ('legacy', 'cloud')),
      slot_name               text        NOT NULL,
      publication_name        text        NOT NULL,
      snapshot_lsn            text,
      snapshot_completed_at   timestamptz,
      last_acked_lsn          text,
      last_acked_commit_time  timestamptz,
      acked_at                timestamptz,
      last_change_commit_time timestamptz,
      changes_acked           bigint      NOT NULL DEFAULT 0
    )`.execute(db);

  await sql`
    CREATE VIEW bookable_rooms AS
    SELECT
      hotel_code,
      room_code,
      (status = 'open' AND coalesce(availability, 0) > 0 AND rate_minor IS NOT NULL) AS sellable,
      CASE WHEN status = 'open' AND rate_minor IS NOT NULL THEN greatest(coalesce(availability, 0), 0) ELSE 0 END
        AS sellable_availability,
      rate_minor,
      currency,
      CASE
        WHEN status <> 'open' THEN 'room is ' || status
        WHEN rate_minor IS NULL THEN 'no rate from either source'
        WHEN coalesce(availability, 0) <= 0 THEN 'no availability'
      END AS reason
    FROM unified_rooms`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    sql`DROP VIEW IF EXISTS bookable_rooms`,
    sql`DROP TABLE IF EXISTS cdc_cursors, dead_letters, cloud_properties, legacy_hotels, room_sources, unified_rooms`,
    sql`DROP TABLE IF EXISTS conflict_audit`,
    sql`DROP FUNCTION IF EXISTS conflict_audit_is_append_only()`,
  ]) {
    await statement.execute(db);
  }
}
