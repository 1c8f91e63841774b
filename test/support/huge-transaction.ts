// One huge cloud transaction, for test/integration/hostile-stream.test.ts and
// bench/huge-transaction.ts: every room of a cloud-only hotel updated `rounds` times in a
// single commit. Updates of a modest number of rooms rather than inserts: with REPLICA
// IDENTITY FULL each carries the old and the new row (twice an insert's bytes through the
// connector), each room's changes must apply in log order for the last value to win, and the
// run measures the connector rather than Temporal's rate of starting 100,000 room workflows.
import type pg from 'pg';
import { insertCloudProperty } from './workload.js';

/** A cloud-only hotel with `rooms` rooms (B1, B2, ...), availability 0; returns its property id. */
export async function seedHugeTransactionHotel(cloud: pg.Pool, hotelCode: string, rooms: number): Promise<string> {
  const propertyId = await insertCloudProperty(cloud, hotelCode);
  await cloud.query(
    `INSERT INTO room_inventory (id, property_id, room_code, room_type, nightly_rate, currency, available_count, is_active)
     SELECT gen_random_uuid(), $1, 'b' || n, 'double', 100.00, 'EUR', 0, true FROM generate_series(1, $2::int) AS n`,
    [propertyId, rooms],
  );
  return propertyId;
}

/**
 * Sets every room's availability to 1, 2, ... `rounds` in one transaction: rounds × rooms row
 * changes in one commit, ending with availability = rounds. Returns the seconds the source took
 * (it grows with rounds², each round scanning the row versions of the earlier ones: keep rounds modest).
 */
export async function commitHugeTransaction(cloud: pg.Pool, propertyId: string, rounds: number): Promise<number> {
  const started = performance.now();
  const client = await cloud.connect();
  try {
    await client.query('BEGIN');
    // A DO block takes no parameters: they travel as transaction-local settings.
    await client.query(`SELECT set_config('room_sync_test.property', $1, true), set_config('room_sync_test.rounds', $2, true)`, [propertyId, String(rounds)]);
    await client.query(`
      DO $$ BEGIN
        FOR round IN 1..current_setting('room_sync_test.rounds')::int LOOP
          UPDATE room_inventory SET available_count = round, version = version + 1
           WHERE property_id = current_setting('room_sync_test.property')::uuid;
        END LOOP;
      END $$`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  return (performance.now() - started) / 1000;
}
