// A failing room never holds up another and never keeps selling; freshness is what has been
// applied, so a room worker that is down while Temporal keeps accepting changes pages.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { retryRoomDeadLetters } from '../../src/app/dead-letter-retry.js';
import { ensureLagMonitor } from '../../src/app/lag-monitor.js';
import { formatHealthReport, readPipelineCounts, readPipelineHealth } from '../../src/app/status.js';
import { roomApplyTable } from '../../src/db/quarantine-repository.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';
import { roomStateQuery, type MonitorSettings } from '../../src/workflows/messages.js';
import { AlertReceiver } from '../support/alert-receiver.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

const settings: MonitorSettings = {
  // Over the ~4 s a failing room is retried before it is quarantined, so those retries alone raise no lag alert.
  thresholds: { warnSeconds: 5, pageSeconds: 8, clearRatio: 0.5, clearChecks: 2 },
  checkIntervalSeconds: 0.5,
  staleAfterSeconds: 4,
  validForSeconds: 3,
  channelNames: ['webhook-1'],
};
const pageWithinMs = (settings.thresholds.pageSeconds + settings.checkIntervalSeconds) * 1000;

const hotel = 'QRT001';
const rooms = Array.from({ length: 51 }, (_, index) => String(index + 1));
const failing = '13';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;
let propertyId = '';
const receiver = new AlertReceiver();
const monitorWorkflowId = `lag-monitor-${randomUUID()}`;

// Legacy-managed: rate and room type from legacy, availability and status from cloud.
const legacyRate = (round: number, room: string) => 10_000 + round * 100 + Number(room);
const cloudAvailability = (round: number, room: string) => (round * 7 + Number(room)) % 9 + 1;

async function writeRound(round: number, only: readonly string[] = rooms): Promise<void> {
  await dbs.legacy.query(`UPDATE htl_room_inv SET rate_amt = 10000 + $1::int * 100 + rm_nbr::int WHERE prop_cd = $2 AND rm_nbr = ANY($3)`, [round, hotel, only]);
  await dbs.cloud.query(
    `UPDATE room_inventory SET available_count = ($1::int * 7 + room_code::int) % 9 + 1, nightly_rate = 50 + $1::int WHERE property_id = $2 AND room_code = ANY($3)`,
    [round, propertyId, only],
  );
}

async function unifiedRows() {
  return dbs.unified.selectFrom('unified_rooms').selectAll().where('hotel_code', '=', hotel).orderBy('room_code').execute();
}

/** True when every listed room shows the round's values (rate from legacy, availability from cloud). */
async function converged(round: number, only: readonly string[]): Promise<boolean> {
  const rows = await unifiedRows();
  return only.every((room) => {
    const row = rows.find((candidate) => candidate.room_code === room);
    return row !== undefined && row.rate_minor === String(legacyRate(round, room)) && row.availability === cloudAvailability(round, room);
  });
}

const bookable = async (room: string) =>
  dbs.unified.selectFrom('bookable_rooms').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', room).executeTakeFirstOrThrow();

before(async () => {
  await receiver.start();
  env = await startTestTemporal();
  dbs = await createTestDatabases('quarantine');
  await insertLegacyProperty(dbs.legacy, hotel, 'L', 'EUR');
  propertyId = await insertCloudProperty(dbs.cloud, hotel);
  for (const room of rooms) {
    await insertLegacyRoom(dbs.legacy, hotel, room, { rm_typ_cd: 'DBL', rate_amt: legacyRate(0, room), allot_qty: 2, stat_cd: 'A' });
    await insertCloudRoom(dbs.cloud, propertyId, room, { room_type: 'double', nightly_rate: '50', currency: 'EUR', available_count: cloudAvailability(0, room), is_active: true });
  }
  pipeline = new TestPipeline(env, dbs, await defaultPolicy(), {
    heartbeatIntervalMs: 250,
    channels: [{ name: 'webhook-1', kind: 'webhook', url: receiver.url('/webhook') }],
  });
  await pipeline.start();
  await ensureLagMonitor(env.client, pipeline.taskQueue, settings, monitorWorkflowId);
  await waitFor('the snapshot applied to every room', () => converged(0, rooms), { timeoutMs: 60_000 });
  await waitFor('every room sellable', async () => {
    const rows = await dbs.unified.selectFrom('bookable_rooms').selectAll().where('hotel_code', '=', hotel).execute();
    return rows.length === rooms.length && rows.every((row) => row.sellable);
  });
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
  await receiver.stop();
});

test('a room whose apply keeps failing is quarantined while 50 others converge; a retry after the fix converges it', async () => {
  // A real failure inside the apply's transaction, for this one room only.
  await dbs.unifiedPool.query(`
    CREATE FUNCTION refuse_room() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.hotel_code = '${hotel}' AND NEW.room_code = '${failing}' THEN
        RAISE EXCEPTION 'test refuses room ${failing}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$`);
  await dbs.unifiedPool.query(`CREATE TRIGGER refuse_room BEFORE INSERT OR UPDATE ON unified_rooms FOR EACH ROW EXECUTE FUNCTION refuse_room()`);
  await writeRound(1);
  const others = rooms.filter((room) => room !== failing);
  await waitFor('the 50 other rooms converge', () => converged(1, others), { timeoutMs: 60_000 });

  const quarantine = await waitFor('the failing room quarantined', () =>
    dbs.unified.selectFrom('room_quarantine').selectAll().where('hotel_code', '=', hotel).where('room_code', '=', failing).executeTakeFirst(),
  );
  assert.match(quarantine.reason, /test refuses room 13/);
  // Each source's change may arrive in a batch of its own, tried and given up on in turn.
  const letters = await waitFor('both sources’ changes of the room dead-lettered', async () => {
    const rows = await dbs.unified.selectFrom('dead_letters').selectAll().where('table_name', '=', roomApplyTable).execute();
    return new Set(rows.map((row) => row.source)).size === 2 ? rows : undefined;
  });
  assert.ok(letters.every((letter) => letter.hotel_code === hotel && letter.room_code === failing && /test refuses room 13/.test(letter.reason)));
  assert.deepEqual(
    await dbs.unified.selectFrom('unapplied_changes').selectAll().where('room_code', '=', failing).execute(),
    [],
    'a dead-lettered change no longer counts as waiting',
  );
  const notSold = await bookable(failing);
  assert.equal(notSold.sellable, false);
  assert.equal(notSold.sellable_availability, 0);
  assert.match(notSold.reason ?? '', /^quarantined since .*test refuses room 13/);
  // The quarantine does not spread; on a loaded machine a lag page may hold the neighbour stale for a moment, as at the start.
  const neighbour = await waitFor('its neighbour sellable', async () => {
    const row = await bookable('12');
    return row.sellable ? row : undefined;
  });
  assert.ok(neighbour.sellable, 'its neighbours keep selling');

  const page = await waitFor('the quarantine paged through the monitor', async () =>
    receiver.on('/webhook').find((alert) => alert.body['type'] === 'room-sync.quarantine.page' && alert.body['room'] === `${hotel}/${failing}`),
  );
  assert.match(String(page.body['message']), /dead-letters retry --room QRT001\/13/);
  const state = await env.client.workflow.getHandle(roomWorkflowId({ hotelCode: hotel, roomCode: failing })).query(roomStateQuery);
  assert.equal(state.quarantine?.room, `${hotel}/${failing}`, 'the room workflow reports its quarantine');
  assert.match(formatHealthReport(await readPipelineCounts(dbs.unified), await readPipelineHealth(dbs.unified)), /QUARANTINED QRT001\/13/);

  // The workflow goes on with later changes: a later round reaches the others at once.
  await writeRound(2, others);
  await waitFor('later changes flow past the quarantined room', () => converged(2, others), { timeoutMs: 60_000 });

  await dbs.unifiedPool.query('DROP TRIGGER refuse_room ON unified_rooms');
  const outcome = await retryRoomDeadLetters(dbs.unified, env.client, pipeline.taskQueue, { hotelCode: hotel, roomCode: failing });
  assert.equal(outcome.failedAgain, 0);
  assert.equal(outcome.applied, outcome.retried);
  assert.ok(await converged(1, [failing]), 'the room has what it would have had without the failure');
  assert.equal(await dbs.unified.selectFrom('room_quarantine').selectAll().executeTakeFirst(), undefined, 'quarantine lifted');
  await waitFor('the room sells again', async () => (await bookable(failing)).sellable);
  await waitFor('the quarantine page resolved', async () =>
    receiver.on('/webhook').find((alert) => alert.body['type'] === 'room-sync.quarantine.resolve' && alert.body['room'] === `${hotel}/${failing}`),
  );
  const afterRetry = await env.client.workflow.getHandle(roomWorkflowId({ hotelCode: hotel, roomCode: failing })).query(roomStateQuery);
  assert.equal(afterRetry.quarantine, null);
});

test('room workers down while the connectors run: the monitor pages, unapplied rooms stop selling, all recovers', async () => {
  await waitFor('no lag incident left open by the test before', async () =>
    (await dbs.unified.selectFrom('alerts').select('id').where('subject', '=', 'lag').where('resolved_at', 'is', null).execute()).length === 0,
  );
  const alertsBefore = await dbs.unified.selectFrom('alerts').select('id').where('subject', '=', 'lag').execute();
  await pipeline.stopWorker();
  await pipeline.startWorker(['monitor']);
  const stoppedAt = Date.now();
  await writeRound(3);

  const paged = await waitFor(
    'the cloud source pages on changes accepted but not applied',
    async () => {
      const rows = await dbs.unified.selectFrom('alerts').selectAll().where('subject', '=', 'lag').where('source', '=', 'cloud').where('severity', '=', 'page').execute();
      return rows.find((row) => !alertsBefore.some((earlier) => earlier.id === row.id));
    },
    { timeoutMs: pageWithinMs + 20_000 },
  );
  // Prompt, not timed to the second: beside three other suites on two cores the monitor's checks
  // ran up to 8 s late once (paged after 17 s). How fast pages come is measured by npm run faults.
  assert.ok(Date.now() - stoppedAt <= pageWithinMs + 15_000, `paged ${Date.now() - stoppedAt} ms after the workers stopped`);
  assert.ok(paged.lag_seconds >= settings.thresholds.pageSeconds);
  const counts = await readPipelineCounts(dbs.unified);
  const cloud = counts.sources.find((source) => source.source === 'cloud');
  assert.ok((cloud?.unapplied ?? 0) >= rooms.length, 'status counts the changes waiting');
  assert.ok((cloud?.lagSeconds ?? Infinity) < settings.thresholds.warnSeconds, 'the acked lag alone would have said all is well');
  assert.equal((await bookable('1')).sellable, false);
  // The reason once the monitor's latest check is fresh: on a loaded CI a check can come later than
  // validForSeconds, and the view then says (as rightly) that the freshness is unknown meanwhile.
  const stale = await waitFor('the stale reason naming the unapplied change', async () => {
    const row = await bookable('1');
    return /availability owner cloud has a change committed at .* not yet applied/.test(row.reason ?? '') ? row : undefined;
  }, { timeoutMs: 20_000 });
  assert.equal(stale.sellable, false);

  await pipeline.stopWorker();
  await pipeline.startWorker();
  await waitFor('everything applied after the workers return', () => converged(3, rooms), { timeoutMs: 60_000 });
  await waitFor('the page resolved', async () =>
    (await dbs.unified.selectFrom('alerts').select('resolved_at').where('id', '=', paged.id).executeTakeFirstOrThrow()).resolved_at,
  { timeoutMs: 30_000 });
  await waitFor('rooms sell again', async () => (await bookable('1')).sellable, { timeoutMs: 30_000 });
  assert.deepEqual(await dbs.unified.selectFrom('unapplied_changes').selectAll().execute(), []);
});
