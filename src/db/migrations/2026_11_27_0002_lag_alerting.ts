import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE unified_rooms ADD COLUMN availability_owner text CHECK (availability_owner IN ('legacy', 'cloud'))`.execute(db);

  await sql`
    CREATE TABLE source_freshness (
      source                  text             PRIMARY KEY CHECK (source IN ('legacy', 'cloud')),
      last_acked_commit_time  timestamptz,
      last_change_commit_time timestamptz,
      lag_seconds             double precision,
      backlog_bytes           bigint,
      slot_retained_bytes     bigint,
      connected               boolean,
      stale_after_seconds     double precision NOT NULL,
      checked_at              timestamptz      NOT NULL,
      valid_until             timestamptz      NOT NULL
    )`.execute(db);

  await sql`
    CREATE TABLE alerts (
      id                   bigserial        PRIMARY KEY,
      incident_key         text             NOT NULL UNIQUE,
      source               text             NOT NULL CHECK (source IN ('legacy', 'cloud')),
      severity             text             NOT NULL CHECK (severity IN ('warning', 'page')),
      lag_seconds          double precision NOT NULL,
      threshold_seconds    double precision NOT NULL,
      opened_at            timestamptz      NOT NULL,
      paged_at             timestamptz,
      resolved_at          timestamptz,
      resolved_lag_seconds double precision,
      message              text             NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX alerts_open ON alerts (source) WHERE resolved_at IS NULL`.execute(db);

  await sql`
    CREATE TABLE alert_deliveries (
      id           bigserial   PRIMARY KEY,
      incident_key text        NOT NULL REFERENCES alerts (incident_key),
      event        text        NOT NULL CHECK (event IN ('warn', 'page', 'resolve')),
      channel      text        NOT NULL,
      ok           boolean     NOT NULL,
      error        text,
      attempted_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // What the booking engine sells: only rooms whose availability owner (and, on a
  // fallback, the source that supplied it) the monitor currently vouches for as fresh.
  await sql`DROP VIEW bookable_rooms`.execute(db);
  await sql`
    CREATE VIEW bookable_rooms AS
    WITH freshness AS (
      SELECT
        source,
        now() <= valid_until
          AND last_acked_commit_time IS NOT NULL
          AND now() - last_acked_commit_time <= make_interval(secs => stale_after_seconds) AS fresh,
        CASE
          WHEN now() > valid_until THEN
            source || ' freshness unknown: the lag monitor last checked at ' || to_char(checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
          ELSE
            source || ' is stale since ' || coalesce(to_char(last_acked_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'ever')
            || ' (no change acknowledged for more than ' || stale_after_seconds || ' s)'
        END AS stale_reason
      FROM source_freshness
    ),
    rooms AS (
      SELECT
        r.*,
        coalesce(r.availability_owner, r.availability_source) AS owner,
        coalesce(owner_freshness.fresh, false) AS owner_fresh,
        coalesce(owner_freshness.stale_reason, coalesce(r.availability_owner, r.availability_source) || ' freshness unknown: the lag monitor has not reported it') AS owner_reason,
        coalesce(value_freshness.fresh, false) AS value_fresh,
        coalesce(value_freshness.stale_reason, r.availability_source || ' freshness unknown: the lag monitor has not reported it') AS value_reason
      FROM unified_rooms r
      LEFT JOIN freshness owner_freshness ON owner_freshness.source = coalesce(r.availability_owner, r.availability_source)
      LEFT JOIN freshness value_freshness ON value_freshness.source = r.availability_source
    ),
    judged AS (
      SELECT
        rooms.*,
        CASE
          WHEN NOT owner_fresh THEN 'availability owner ' || owner_reason
          WHEN NOT value_fresh THEN 'availability source ' || value_reason
          WHEN status <> 'open' THEN 'room is ' || status
          WHEN rate_minor IS NULL THEN 'no rate from either source'
          WHEN coalesce(availability, 0) <= 0 THEN 'no availability'
        END AS reason
      FROM rooms
    )
    SELECT
      hotel_code,
      room_code,
      reason IS NULL AS sellable,
      CASE WHEN reason IS NULL THEN availability ELSE 0 END AS sellable_availability,
      rate_minor,
      currency,
      reason
    FROM judged`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP VIEW IF EXISTS bookable_rooms`.execute(db);
  await sql`DROP TABLE IF EXISTS alert_deliveries, alerts, source_freshness`.execute(db);
  await sql`ALTER TABLE unified_rooms DROP COLUMN IF EXISTS availability_owner`.execute(db);
  await sql`
    CREATE VIEW bookable_rooms AS
    SELECT hotel_code, room_code,
      (status = 'open' AND coalesce(availability, 0) > 0 AND rate_minor IS NOT NULL) AS sellable,
      CASE WHEN status = 'open' AND rate_minor IS NOT NULL THEN greatest(coalesce(availability, 0), 0) ELSE 0 END AS sellable_availability,
      rate_minor, currency,
      CASE WHEN status <> 'open' THEN 'room is ' || status WHEN rate_minor IS NULL THEN 'no rate from either source'
           WHEN coalesce(availability, 0) <= 0 THEN 'no availability' END AS reason
    FROM unified_rooms`.execute(db);
}
