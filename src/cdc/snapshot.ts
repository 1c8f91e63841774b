import type pg from 'pg';

export interface SnapshotRow {
  readonly table: string;
  readonly row: Record<string, unknown>;
}

const fetchSize = 1_000;

/**
 * Reads the captured tables as of the slot's exported snapshot, in batches through a
 * server-side cursor so a large source does not have to fit in memory.
 */
export async function* readSnapshot(
  pool: pg.Pool,
  snapshotName: string,
  tables: readonly string[],
): AsyncGenerator<SnapshotRow> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName.replace(/'/g, "''")}'`);
    for (const table of tables) {
      const quoted = table.split('.').map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
      await client.query(`DECLARE snapshot_cursor NO SCROLL CURSOR FOR SELECT * FROM ${quoted}`);
      for (;;) {
        const { rows } = await client.query<Record<string, unknown>>(`FETCH ${fetchSize} FROM snapshot_cursor`);
        for (const row of rows) yield { table, row };
        if (rows.length < fetchSize) break;
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
