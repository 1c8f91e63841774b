// The audit tables' monthly partitions (migration 0007): created ahead by the owner, listed and
// inspected for `audit archive`. Months are calendar months in UTC, `YYYY-MM`.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { UnifiedDatabase } from './schema.js';

/** The partitioned audit tables and the column each is partitioned by. */
export const partitionedAuditTables = { conflict_audit: 'resolved_at', unified_field_history: 'applied_at' } as const;
export type PartitionedAuditTable = keyof typeof partitionedAuditTables;

/** How far ahead migrate and set-up create monthly partitions. */
export const partitionMonthsAhead = 24;

/** Serializes partition DDL of concurrent set-ups and archives of one database. */
export const partitionLockKey = 0x72730007;

/** Creates the missing monthly partitions from the oldest row's month to `monthsAhead` months ahead; returns their names. */
export async function ensureAuditPartitions(db: Kysely<UnifiedDatabase>, monthsAhead = partitionMonthsAhead): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${partitionLockKey})`.execute(trx);
    const { rows } = await sql<{ created: string }>`SELECT audit_ensure_partitions(${monthsAhead}::integer) AS created`.execute(trx);
    return rows.map((row) => row.created);
  });
}

/** One attached monthly partition. */
export interface MonthPartition {
  readonly table: PartitionedAuditTable;
  /** `YYYY-MM`. */
  readonly month: string;
  readonly name: string;
}

/**
 * The attached monthly partitions of both tables, oldest first: read from the catalog, the
 * bounds being what decides the month (a partition named otherwise is still found).
 */
export async function attachedMonthPartitions(db: Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>): Promise<MonthPartition[]> {
  const { rows } = await sql<{ parent: PartitionedAuditTable; name: string; month: string | null }>`
    SELECT p.relname::text AS parent, c.relname::text AS name,
           to_char(((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM') AS month
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = p.relnamespace
     WHERE n.nspname = current_schema() AND p.relname IN ('conflict_audit', 'unified_field_history')
       AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
     ORDER BY 3, 1`.execute(db);
  return rows.flatMap((row) => (row.month === null ? [] : [{ table: row.parent, month: row.month, name: row.name }]));
}

/** Rows of a table's DEFAULT partition, per month, before `beforeMonth` (`YYYY-MM`). */
export async function defaultPartitionRows(
  db: Kysely<UnifiedDatabase> | Transaction<UnifiedDatabase>,
  table: PartitionedAuditTable,
  beforeMonth: string,
): Promise<{ month: string; rows: number }[]> {
  const key = partitionedAuditTables[table];
  const { rows } = await sql<{ month: string; rows: string }>`
    SELECT to_char(${sql.ref(key)} AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*)::text AS rows
      FROM ${sql.table(`${table}_default`)}
     WHERE ${sql.ref(key)} < (${`${beforeMonth}-01`}::timestamp AT TIME ZONE 'UTC')
     GROUP BY 1 ORDER BY 1`.execute(db);
  return rows.map((row) => ({ month: row.month, rows: Number(row.rows) }));
}
