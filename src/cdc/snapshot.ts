import type pg from 'pg';

export interface SnapshotRow {
  readonly table: string;
  readonly row: Record<string, unknown>;
}

const fetchSize = 1_000;

/** One query read in the snapshot; its rows are labelled with `table`. */
export interface SnapshotQuery {
  readonly table: string;
  readonly text: string;
  readonly values?: readonly unknown[];
}

export function quoteTable(table: string): string {
  return table.split('.').map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
}

/**
 * Reads the captured tables as of the slot's exported snapshot, in batches through a
 * server-side cursor so a large source does not have to fit in memory.
 */
export function readSnapshot(pool: pg.Pool, snapshotName: string, tables: readonly string[]): AsyncGenerator<SnapshotRow> {
  return readInSnapshot(
    pool,
    snapshotName,
    tables.map((table) => ({ table, text: `SELECT * FROM ${quoteTable(table)}` })),
  );
}

/**
 * Runs each query in the exported snapshot (REPEATABLE READ, read only: no lock beyond a
 * plain SELECT's), one page of `fetchSize` rows at a time through a server-side cursor.
 */
export async function* readInSnapshot(
  pool: pg.Pool,
  snapshotName: string,
  queries: readonly SnapshotQuery[],
  pageSize = fetchSize,
): AsyncGenerator<SnapshotRow> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName.replace(/'/g, "''")}'`);
    for (const { table, text, values = [] } of queries) {
      await client.query(`DECLARE snapshot_cursor NO SCROLL CURSOR FOR ${text}`, [...values]);
      for (;;) {
        const { rows } = await client.query<Record<string, unknown>>(`FETCH ${pageSize} FROM snapshot_cursor`);
        for (const row of rows) yield { table, row };
        if (rows.length < pageSize) break;
      }
      await client.query('CLOSE snapshot_cursor');
    }
    await client.query('COMMIT');
  } catch (error) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(failed);
  }
}
