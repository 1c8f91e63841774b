// The floor's worker: default worker options, one local activity doing one upsert and one
// insert (a single statement) in Postgres. Runs as its own process so its CPU can be read:
//   node --import tsx bench/floor/worker.ts   (configured by FLOOR_* variables)
import { createRequire } from 'node:module';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { bundlerOptions } from '../../src/workers/worker.js';
import { floorTaskQueue, type FloorActivities, type FloorChange, type FloorRoom } from './types.js';

const require = createRequire(import.meta.url);

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

/** The room's row (last write of each source wins) and the change's own row, in one statement. */
const applyText = `
  WITH room AS (
    INSERT INTO floor_rooms AS r (hotel_code, room_code, room_type, rate_minor, currency, availability, status, updated_at, legacy_commit_time, cloud_commit_time)
    VALUES ($1, $2, $3, $4, $5, $6, $7, now(), CASE WHEN $8 = 'legacy' THEN $9::timestamptz END, CASE WHEN $8 = 'cloud' THEN $9::timestamptz END)
    ON CONFLICT (hotel_code, room_code) DO UPDATE SET
      room_type = EXCLUDED.room_type, rate_minor = EXCLUDED.rate_minor, currency = EXCLUDED.currency,
      availability = EXCLUDED.availability, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
      legacy_commit_time = coalesce(EXCLUDED.legacy_commit_time, r.legacy_commit_time),
      cloud_commit_time = coalesce(EXCLUDED.cloud_commit_time, r.cloud_commit_time)
    RETURNING 1
  )
  INSERT INTO floor_changes (hotel_code, room_code, source, position, commit_time, applied_at)
  SELECT $1, $2, $8, $10, $9::timestamptz, now() FROM room`;

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: required('FLOOR_UNIFIED_URL'), max: 8, application_name: 'bench-floor-worker' });
  const activities: FloorActivities = {
    async applyFloorChange(room: FloorRoom, change: FloorChange): Promise<void> {
      const values = change.values;
      const rate = values?.rateMinor ?? null;
      await pool.query({
        name: 'floor-apply',
        text: applyText,
        values: [
          room.hotelCode,
          room.roomCode,
          values?.roomType ?? null,
          rate,
          rate === null ? null : values?.currency ?? null,
          values?.availability ?? null,
          values === null ? 'removed' : values.status,
          change.source,
          change.commitTime,
          change.position,
        ],
      });
    },
  };
  const connection = await NativeConnection.connect({ address: required('FLOOR_TEMPORAL_ADDRESS') });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue: floorTaskQueue,
    workflowsPath: require.resolve('./workflows.ts'),
    bundlerOptions,
    activities,
  });
  const stop = () => worker.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await worker.run();
  await connection.close();
  await pool.end();
}

main().catch((error: unknown) => {
  process.stderr.write(`floor worker: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
