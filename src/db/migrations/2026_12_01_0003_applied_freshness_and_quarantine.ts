import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Every change a connector hands to Temporal, until the room's apply has taken it (or dead-lettered it).
  // Freshness is what has been applied: a worker that is down while Temporal keeps accepting shows here.
  await sql`
    CREATE TABLE unapplied_changes (
      source       text        NOT NULL CHECK (source IN ('legacy', 'cloud')),
      hotel_code   text        NOT NULL,
      room_code    text        NOT NULL,
      position     text        NOT NULL,
      commit_time  timestamptz NOT NULL,
      delivered_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (hotel_code, room_code, source, position)
    )`.execute(db);
  await sql`CREATE INDEX unapplied_changes_oldest ON unapplied_changes (source, commit_time)`.execute(db);

  // A room whose apply kept failing: its failing changes are dead letters, it is not sold, ops are paged.
  await sql`
    CREATE TABLE room_quarantine (
      hotel_code     text        NOT NULL,
      room_code      text        NOT NULL,
      source         text        NOT NULL CHECK (source IN ('legacy', 'cloud')),
      reason         text        NOT NULL,
      quarantined_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (hotel_code, room_code)
    )`.execute(db);

  // Dead letters of a room's apply carry the room, and say how a retry ended.
  await sql`ALTER TABLE dead_letters ADD COLUMN hotel_code text`.execute(db);
  await sql`ALTER TABLE dead_letters ADD COLUMN room_code text`.execute(db);
  await sql`ALTER TABLE dead_letters ADD COLUMN retried_at timestamptz`.execute(db);
  await sql`ALTER TABLE dead_letters ADD COLUMN retry_outcome text CHECK (retry_outcome IN ('applied', 'failed-again', 'not-mappable'))`.execute(db);
  await sql`CREATE INDEX dead_letters_room ON dead_letters (hotel_code, room_code) WHERE retry_outcome IS NULL`.execute(db);

  await sql`ALTER TABLE source_freshness ADD COLUMN unapplied_changes bigint`.execute(db);
  await sql`ALTER TABLE source_freshness ADD COLUMN oldest_unapplied_commit_time timestamptz`.execute(db);

  // Alerts are about a source's lag or about one quarantined room.
  await sql`ALTER TABLE alerts ADD COLUMN subject text NOT NULL DEFAULT 'lag' CHECK (subject IN ('lag', 'quarantine'))`.execute(db);
  await sql`ALTER TABLE alerts ADD COLUMN room text`.execute(db);

  await sql`DROP VIEW bookable_rooms`.execute(db);
  await sql`
    CREATE VIEW bookable_rooms AS
    WITH freshness AS (
      SELECT
        source,
        now() <= valid_until
          AND last_acked_commit_time IS NOT NULL
          AND now() - last_acked_commit_time <= make_interval(secs => stale_after_seconds) AS fresh,
        stale_after_seconds,
        CASE
          WHEN now() > valid_until THEN
            source || ' freshness unknown: the lag monitor last checked at ' || to_char(checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
          ELSE
            source || ' is stale since ' || coalesce(to_char(last_acked_commit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'ever')
            || ' (no change acknowledged for more than ' || stale_after_seconds || ' s)'
        END AS stale_reason
      FROM source_freshness
    ),
    waiting AS (
      -- Per room and source: the oldest change Temporal took that no apply has taken yet.
      SELECT hotel_code, room_code, source, min(commit_time) AS oldest
      FROM unapplied_changes
      GROUP BY hotel_code, room_code, source
    ),
    rooms AS (
      SELECT
        r.*,
        coalesce(r.availability_owner, r.availability_source) AS owner,
        coalesce(owner_freshness.fresh, false) AS owner_fresh,
        coalesce(owner_freshness.stale_reason, coalesce(r.availability_owner, r.availability_source) || ' freshness unknown: the lag monitor has not reported it') AS owner_reason,
        coalesce(value_freshness.fresh, false) AS value_fresh,
        coalesce(value_freshness.stale_reason, r.availability_source || ' freshness unknown: the lag monitor has not reported it') AS value_reason,
        owner_waiting.oldest AS owner_unapplied_since,
        coalesce(owner_freshness.stale_after_seconds, 0) AS owner_stale_after,
        q.quarantined_at,
        q.reason AS quarantine_reason
      FROM unified_rooms r
      LEFT JOIN freshness owner_freshness ON owner_freshness.source = coalesce(r.availability_owner, r.availability_source)
      LEFT JOIN freshness value_freshness ON value_freshness.source = r.availability_source
      LEFT JOIN waiting owner_waiting
        ON owner_waiting.hotel_code = r.hotel_code AND owner_waiting.room_code = r.room_code
       AND owner_waiting.source = coalesce(r.availability_owner, r.availability_source)
      LEFT JOIN room_quarantine q ON q.hotel_code = r.hotel_code AND q.room_code = r.room_code
    ),
    judged AS (
      SELECT
        rooms.*,
        CASE
          WHEN quarantined_at IS NOT NULL THEN
            'quarantined since ' || to_char(quarantined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ': ' || quarantine_reason
          WHEN NOT owner_fresh THEN 'availability owner ' || owner_reason
          WHEN owner_unapplied_since IS NOT NULL AND now() - owner_unapplied_since > make_interval(secs => owner_stale_after) THEN
            'availability owner ' || owner || ' has a change committed at '
            || to_char(owner_unapplied_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' not yet applied'
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
  await sql`DROP TABLE IF EXISTS unapplied_changes, room_quarantine`.execute(db);
  await sql`ALTER TABLE dead_letters DROP COLUMN hotel_code, DROP COLUMN room_code, DROP COLUMN retried_at, DROP COLUMN retry_outcome`.execute(db);
  await sql`ALTER TABLE source_freshness DROP COLUMN unapplied_changes, DROP COLUMN oldest_unapplied_commit_time`.execute(db);
  await sql`ALTER TABLE alerts DROP COLUMN subject, DROP COLUMN room`.execute(db);
}
