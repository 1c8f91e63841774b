// How long a legacy property change takes to reach every room of a big hotel:
// `npm run bench:fan-out -- [--rooms 500]`. Real Postgres, real Temporal dev server, the
// real worker and connectors; prints the figures, asserts nothing.
import { parseArgs } from 'node:util';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor } from '../test/support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../test/support/workload.js';

const { values } = parseArgs({ options: { rooms: { type: 'string', default: '500' } } });
const rooms = Number(values.rooms);
const hotel = 'FAN001';
const say = (message: string) => process.stdout.write(`[fan-out] ${message}\n`);

const env = await startTestTemporal();
const dbs = await createTestDatabases('fanout');
try {
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  const propertyId = await insertCloudProperty(dbs.cloud, hotel);
  for (let index = 1; index <= rooms; index++) {
    await insertLegacyRoom(dbs.legacy, hotel, String(index), { rm_typ_cd: 'DBL', rate_amt: 10_000 + index, allot_qty: 2, stat_cd: 'A' });
    await insertCloudRoom(dbs.cloud, propertyId, String(index), { room_type: 'double', nightly_rate: '120', currency: 'EUR', available_count: 3, is_active: true });
  }
  const pipeline = new TestPipeline(env, dbs, await defaultPolicy(), { maxInFlight: 64 });
  const started = performance.now();
  await pipeline.start();
  const classOf = async (wanted: string) =>
    Number(
      (
        await dbs.unified
          .selectFrom('unified_rooms')
          .select((eb) => eb.fn.countAll<string>().as('rooms'))
          .where('hotel_code', '=', hotel)
          .where('hotel_class', '=', wanted)
          .executeTakeFirstOrThrow()
      ).rooms,
    );
  await waitFor('every room in the unified view', async () => (await classOf('legacy-managed')) === rooms, { timeoutMs: 600_000, intervalMs: 250 });
  say(`${rooms} rooms opened (snapshot of both sources) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const [code, wanted] of [['C', 'cloud-managed'], ['L', 'legacy-managed']] as const) {
    const flipped = performance.now();
    await dbs.legacy.query('UPDATE htl_property SET mgmt_typ = $1 WHERE prop_cd = $2', [code, hotel]);
    let first: number | null = null;
    await waitFor(`every room ${wanted}`, async () => {
      const count = await classOf(wanted);
      if (count > 0 && first === null) first = performance.now();
      return count === rooms;
    }, { timeoutMs: 600_000, intervalMs: 50 });
    const all = performance.now();
    say(`mgmt_typ -> ${code}: first room re-resolved after ${(((first ?? all) - flipped) / 1000).toFixed(2)} s, all ${rooms} after ${((all - flipped) / 1000).toFixed(2)} s`);
  }
  await pipeline.stop();
} finally {
  await dbs.drop();
  await env.teardown();
}
