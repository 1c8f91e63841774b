import { sql, type Kysely } from 'kysely';

// Frozen in time: raw SQL, no table types from the code.
//
// conflict_audit (by resolved_at) and unified_field_history (by applied_at) become partitioned
// by calendar month (UTC), so old months can be archived whole (`room-sync audit archive`) and
// detached. Each table is rebuilt in place: renamed, recreated partitioned with the same
// columns, defaults (the same id sequences), CHECKs and NOT NULLs, every row copied with its
// id, the old table dropped, then the indexes and the append-only triggers recreated under
// their old names. A unique constraint of a partitioned table must contain the partition key,
// so the primary keys become (id, month column) and conflict_audit's one-row-per-change key
// gains resolved_at (the apply's position guard is what drops a replay).
//
// The pipeline's role cannot create tables, so partitions exist before rows need them:
// audit_ensure_partitions(months_ahead), run by every migrate and set-up as the owner, creates
// the monthly partitions from the oldest row's month to months_ahead months ahead, and a
// DEFAULT partition takes any row no month partition covers, so an insert never fails.

const tables = [
  {
    name: 'conflict_audit',
    key: 'resolved_at',
    trigger: 'conflict_audit_is_append_only',
    unique: sql`ALTER TABLE conflict_audit ADD CONSTRAINT conflict_audit_one_row_per_change UNIQUE (hotel_code, room_code, field, trigger_source, trigger_position, resolved_at)`,
    indexes: [
      sql`CREATE INDEX conflict_audit_room ON conflict_audit (hotel_code, room_code, resolved_at)`,
      sql`CREATE INDEX conflict_audit_resolved_at ON conflict_audit (resolved_at)`,
      sql`CREATE INDEX conflict_audit_chain ON conflict_audit (hotel_code, room_code, id)`,
    ],
  },
  {
    name: 'unified_field_history',
    key: 'applied_at',
    trigger: 'audit_table_is_append_only',
    unique: null,
    indexes: [
      sql`CREATE INDEX unified_field_history_room ON unified_field_history (hotel_code, room_code, field, id)`,
      sql`CREATE INDEX unified_field_history_applied_at ON unified_field_history (applied_at)`,
    ],
  },
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  // Detached (archived) months are kept here, out of the pipeline's reach, until the retention window passes.
  await sql`CREATE SCHEMA audit_archive`.execute(db);

  // What `audit archive` exported and detached, one row per table and month: evidence, never rewritten.
  await sql`
    CREATE TABLE audit_archived_months (
      table_name  text        NOT NULL CHECK (table_name IN ('conflict_audit', 'unified_field_history')),
      month       date        NOT NULL CHECK (month = date_trunc('month', month)::date),
      rows        bigint      NOT NULL CHECK (rows >= 0),
      min_id      bigint,
      max_id      bigint,
      file        text        NOT NULL,
      sha256      text        NOT NULL,
      detached_as text        NOT NULL,
      archived_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (table_name, month)
    )`.execute(db);
  // Each room's chain head at the end of an archived conflict_audit month: the apply continues a
  // room's chain from it once its rows left the live table, and verify starts the live walk there.
  await sql`
    CREATE TABLE conflict_audit_archived_heads (
      month      date   NOT NULL,
      hotel_code text   NOT NULL,
      room_code  text   NOT NULL,
      rows       bigint NOT NULL CHECK (rows > 0),
      head_id    bigint NOT NULL,
      head_hash  text,
      PRIMARY KEY (month, hotel_code, room_code)
    )`.execute(db);
  await sql`CREATE INDEX conflict_audit_archived_heads_room ON conflict_audit_archived_heads (hotel_code, room_code, head_id)`.execute(db);
  for (const table of ['audit_archived_months', 'conflict_audit_archived_heads']) {
    await sql`
      CREATE TRIGGER ${sql.raw(`${table}_no_update_delete`)} BEFORE UPDATE OR DELETE ON ${sql.table(table)}
      FOR EACH ROW EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table}_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(table)}
      FOR EACH STATEMENT EXECUTE FUNCTION audit_table_is_append_only()`.execute(db);
  }

  // One month's partition of an audit table, with the TRUNCATE guard a partition does not
  // inherit (row triggers are cloned to partitions, statement triggers are not). Returns its
  // name, or NULL when it exists, when the month was archived, or when rows of that month sit
  // in the DEFAULT partition (creating it would fail; `audit archive` refuses that month).
  await sql`
    CREATE FUNCTION audit_create_month_partition(parent text, month date) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE
      first_day date := date_trunc('month', month)::date;
      partition_name text := parent || '_p' || to_char(first_day, 'YYYYMM');
      key text := CASE parent WHEN 'conflict_audit' THEN 'resolved_at' WHEN 'unified_field_history' THEN 'applied_at' END;
      guard text := CASE parent WHEN 'conflict_audit' THEN 'conflict_audit_is_append_only' ELSE 'audit_table_is_append_only' END;
      lower_bound timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
      upper_bound timestamptz := (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC';
      in_default boolean;
    BEGIN
      IF key IS NULL THEN
        RAISE EXCEPTION 'audit_create_month_partition: % is not a partitioned audit table', parent;
      END IF;
      IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relname = partition_name AND n.nspname IN (current_schema(), 'audit_archive'))
         OR EXISTS (SELECT 1 FROM audit_archived_months a WHERE a.table_name = parent AND a.month = first_day) THEN
        RETURN NULL;
      END IF;
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= %L AND %I < %L)', parent || '_default', key, lower_bound, key, upper_bound)
        INTO in_default;
      IF in_default THEN
        RETURN NULL;
      END IF;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', partition_name, parent, lower_bound, upper_bound);
      EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION %I()', partition_name || '_no_truncate', partition_name, guard);
      RETURN partition_name;
    END
    $$`.execute(db);

  // Every month from the oldest row's (live rows, DEFAULT included) to months_ahead months after
  // the current one (UTC), both tables; idempotent. Returns the partitions it created.
  await sql`
    CREATE FUNCTION audit_ensure_partitions(months_ahead integer) RETURNS SETOF text LANGUAGE plpgsql AS $$
    DECLARE
      parent text;
      key text;
      oldest timestamptz;
      month date;
      last_month date := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => months_ahead))::date;
      created text;
    BEGIN
      FOREACH parent IN ARRAY ARRAY['conflict_audit', 'unified_field_history'] LOOP
        key := CASE parent WHEN 'conflict_audit' THEN 'resolved_at' ELSE 'applied_at' END;
        EXECUTE format('SELECT min(%I) FROM %I', key, parent) INTO oldest;
        month := date_trunc('month', least(coalesce(oldest, now()), now()) AT TIME ZONE 'UTC')::date;
        WHILE month <= last_month LOOP
          created := audit_create_month_partition(parent, month);
          IF created IS NOT NULL THEN
            RETURN NEXT created;
          END IF;
          month := (month + interval '1 month')::date;
        END LOOP;
      END LOOP;
    END
    $$`.execute(db);

  // Partition DDL is the owner's: nobody else may even try it through these functions.
  await sql`REVOKE EXECUTE ON FUNCTION audit_create_month_partition(text, date), audit_ensure_partitions(integer) FROM PUBLIC`.execute(db);

  for (const table of tables) {
    const old = `${table.name}_unpartitioned`;
    await sql`ALTER TABLE ${sql.table(table.name)} RENAME TO ${sql.table(old)}`.execute(db);
    // Same columns in the same order, NOT NULLs, CHECKs (same names) and defaults: the id keeps its sequence.
    await sql`
      CREATE TABLE ${sql.table(table.name)} (LIKE ${sql.table(old)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)
      PARTITION BY RANGE (${sql.ref(table.key)})`.execute(db);
    await sql`ALTER SEQUENCE ${sql.table(`${table.name}_id_seq`)} OWNED BY ${sql.ref(`${table.name}.id`)}`.execute(db);
    await sql`CREATE TABLE ${sql.table(`${table.name}_default`)} PARTITION OF ${sql.table(table.name)} DEFAULT`.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table.name}_default_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(`${table.name}_default`)}
      FOR EACH STATEMENT EXECUTE FUNCTION ${sql.raw(table.trigger)}()`.execute(db);
    // The months the rows need, before they are copied (not into DEFAULT).
    const { rows } = await sql<{ month: string }>`
      SELECT to_char(m, 'YYYY-MM-DD') AS month
        FROM (SELECT min(${sql.ref(table.key)}) AS oldest FROM ${sql.table(old)}) o,
             generate_series(date_trunc('month', coalesce(o.oldest, now()) AT TIME ZONE 'UTC'), date_trunc('month', now() AT TIME ZONE 'UTC'), interval '1 month') m`.execute(db);
    for (const { month } of rows) await sql`SELECT audit_create_month_partition(${table.name}, ${month}::date)`.execute(db);
    await sql`INSERT INTO ${sql.table(table.name)} SELECT * FROM ${sql.table(old)} ORDER BY id`.execute(db);
    await sql`DROP TABLE ${sql.table(old)}`.execute(db);
    await sql`ALTER TABLE ${sql.table(table.name)} ADD CONSTRAINT ${sql.raw(`${table.name}_pkey`)} PRIMARY KEY (id, ${sql.ref(table.key)})`.execute(db);
    if (table.unique) await table.unique.execute(db);
    for (const index of table.indexes) await index.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table.name}_no_update_delete`)} BEFORE UPDATE OR DELETE ON ${sql.table(table.name)}
      FOR EACH ROW EXECUTE FUNCTION ${sql.raw(table.trigger)}()`.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table.name}_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(table.name)}
      FOR EACH STATEMENT EXECUTE FUNCTION ${sql.raw(table.trigger)}()`.execute(db);
  }
  await sql`SELECT audit_ensure_partitions(24)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Back to plain tables (rows of detached months stay in audit_archive).
  for (const table of tables) {
    const old = `${table.name}_partitioned`;
    await sql`ALTER TABLE ${sql.table(table.name)} RENAME TO ${sql.table(old)}`.execute(db);
    await sql`CREATE TABLE ${sql.table(table.name)} (LIKE ${sql.table(old)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`.execute(db);
    await sql`ALTER SEQUENCE ${sql.table(`${table.name}_id_seq`)} OWNED BY ${sql.ref(`${table.name}.id`)}`.execute(db);
    await sql`INSERT INTO ${sql.table(table.name)} SELECT * FROM ${sql.table(old)} ORDER BY id`.execute(db);
    await sql`DROP TABLE ${sql.table(old)} CASCADE`.execute(db);
    await sql`ALTER TABLE ${sql.table(table.name)} ADD PRIMARY KEY (id)`.execute(db);
    for (const index of table.indexes) await index.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table.name}_no_update_delete`)} BEFORE UPDATE OR DELETE ON ${sql.table(table.name)}
      FOR EACH ROW EXECUTE FUNCTION ${sql.raw(table.trigger)}()`.execute(db);
    await sql`
      CREATE TRIGGER ${sql.raw(`${table.name}_no_truncate`)} BEFORE TRUNCATE ON ${sql.table(table.name)}
      FOR EACH STATEMENT EXECUTE FUNCTION ${sql.raw(table.trigger)}()`.execute(db);
  }
  await sql`ALTER TABLE conflict_audit ADD UNIQUE (hotel_code, room_code, field, trigger_source, trigger_position)`.execute(db);
  await sql`DROP FUNCTION audit_ensure_partitions(integer)`.execute(db);
  await sql`DROP FUNCTION audit_create_month_partition(text, date)`.execute(db);
  await sql`DROP TABLE conflict_audit_archived_heads, audit_archived_months`.execute(db);
  await sql`DROP SCHEMA audit_archive CASCADE`.execute(db);
}
