import pg from 'pg';

export interface SlotState {
  readonly exists: boolean;
  readonly active: boolean;
  readonly activePid: number | null;
  readonly confirmedFlushLsn: string | null;
  /** Invalidated (wal_status 'lost', past max_slot_wal_keep_size): it can never stream again. */
  readonly invalidated: boolean;
}

export async function readSlot(pool: pg.Pool, slotName: string): Promise<SlotState> {
  const { rows } = await pool.query<{ active: boolean; active_pid: number | null; confirmed_flush_lsn: string | null; wal_status: string | null }>(
    'SELECT active, active_pid, confirmed_flush_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [slotName],
  );
  const row = rows[0];
  if (!row) return { exists: false, active: false, activePid: null, confirmedFlushLsn: null, invalidated: false };
  return {
    exists: true,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn,
    invalidated: row.wal_status === 'lost',
  };
}

export async function dropSlot(pool: pg.Pool, slotName: string): Promise<void> {
  await pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slotName]);
}

/** A new slot, and the snapshot of the data exactly as of the slot's start, valid while `release` is not called. */
export interface ExportedSnapshot {
  readonly consistentPoint: string;
  readonly snapshotName: string;
  release(): Promise<void>;
}

/**
 * `temporary`: the slot is dropped by the server when this connection ends (a reconcile's
 * read needs only the snapshot and its position, never the stream).
 */
export async function createSlotWithSnapshot(databaseUrl: string, slotName: string, { temporary = false } = {}): Promise<ExportedSnapshot> {
  // pg supports replication connections; its type definitions do not list the option.
  const config: pg.ClientConfig & { replication: 'database' } = {
    connectionString: databaseUrl,
    replication: 'database',
    application_name: `room-sync ${slotName} snapshot`,
  };
  const client = new pg.Client(config);
  await client.connect();
  try {
    const { rows } = await client.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT "${slotName}"${temporary ? ' TEMPORARY' : ''} LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    const row = rows[0];
    if (!row?.snapshot_name) throw new Error(`CREATE_REPLICATION_SLOT ${slotName} returned no snapshot`);
    return {
      consistentPoint: row.consistent_point,
      snapshotName: row.snapshot_name,
      // The exported snapshot lives until this connection runs another command or closes.
      release: async () => {
        await client.end();
      },
    };
  } catch (error) {
    await client.end();
    throw error;
  }
}
