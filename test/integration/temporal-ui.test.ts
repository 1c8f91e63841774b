// Ops find a room's workflow in the Temporal web UI and read what happened to it: a real
// Chromium against the dev server's UI, after a room written into both sources (with a
// rate conflict) has gone through the whole pipeline. Screenshots land in artifacts/ui/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { lookUpRoom } from '../../src/app/room-lookup.js';
import type { Policy } from '../../src/policy/schema.js';
import { roomWorkflowId } from '../../src/routing/room-routing.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { sourceChangesSignal } from '../../src/workflows/messages.js';
import { createTestDatabases, defaultPolicy, startTestTemporalServer, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';
import { TemporalUi, type HistoryEvent } from '../support/temporal-ui.js';
import { insertCloudProperty, insertCloudRoom, insertLegacyProperty, insertLegacyRoom } from '../support/workload.js';

const screenshotDir = join(projectRoot, 'artifacts', 'ui');
const target = { hotelCode: 'UIT1', roomCode: '101' };
const sameHotel = { hotelCode: 'UIT1', roomCode: '102' };
const sameRoomCode = { hotelCode: 'UIT2', roomCode: '101' };

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let policy: Policy;
let pipeline: TestPipeline;
let ui: TemporalUi;

before(async () => {
  const temporal = await startTestTemporalServer({ ui: true });
  env = temporal.env;
  dbs = await createTestDatabases('ui');
  policy = await defaultPolicy();
  pipeline = new TestPipeline(env, dbs, policy);
  await pipeline.start();
  if (!temporal.uiUrl) throw new Error('the Temporal server serves no UI');
  ui = await TemporalUi.launch(temporal.uiUrl, { screenshotDir, namespace: env.namespace ?? 'default' });
});

after(async () => {
  // Each step runs even when one before it fails; the first failure is reported.
  const failures: unknown[] = [];
  for (const step of [() => ui?.close(), () => pipeline?.stop(), () => dbs?.drop(), () => env?.teardown()]) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
});

const signals = (events: readonly HistoryEvent[]) =>
  events.filter((event) => /Workflow Execution Signaled/.test(event.text) && event.text.includes(sourceChangesSignal.name));
// The apply is a local activity, a MarkerRecorded event: the UI shows it as "Local Activity" (older UIs: "Marker Recorded").
const applies = (events: readonly HistoryEvent[]) =>
  events.filter((event) => /Local Activity|Marker Recorded/i.test(event.text) && event.text.includes('applyRoomChanges'));
// Its summary (src/workflows/batch-summary.ts): "apply legacy 1 to <position>", or "apply legacy 1 to …, cloud 1 to …".
const appliedFrom = (events: readonly HistoryEvent[], source: 'legacy' | 'cloud') =>
  applies(events).some((event) => new RegExp(`apply (.*, )?${source} \\d+`).test(event.text));

test("ops find a room's workflow by HotelCode and RoomCode and read its signals and applies", async (t) => {
  const { legacy, cloud, unified } = dbs;
  let phaseStart = Date.now();
  const phase = (name: string) => {
    t.diagnostic(`${name}: ${Date.now() - phaseStart} ms`);
    phaseStart = Date.now();
  };
  // Written while the connectors stream. UIT1 is legacy-managed: legacy's 129.00 wins over cloud's 135.00.
  await insertLegacyProperty(legacy, 'UIT1', 'L', 'EUR');
  await insertLegacyProperty(legacy, 'UIT2', 'L', 'EUR');
  const uit1 = await insertCloudProperty(cloud, 'UIT1');
  const uit2 = await insertCloudProperty(cloud, 'UIT2');
  await insertLegacyRoom(legacy, 'UIT1', '101', { rm_typ_cd: 'KNG', rate_amt: 12900, allot_qty: 3, stat_cd: 'A' });
  await insertCloudRoom(cloud, uit1, '101', { room_type: 'king', nightly_rate: '135.00', currency: 'EUR', available_count: 3, is_active: true });
  await insertLegacyRoom(legacy, 'UIT1', '102', { rm_typ_cd: 'TWN', rate_amt: 9900, allot_qty: 2, stat_cd: 'A' });
  await insertCloudRoom(cloud, uit2, '101', { room_type: 'double', nightly_rate: '110.00', currency: 'EUR', available_count: 1, is_active: true });

  const row = await waitFor('UIT1/101 merged from both sources', async () => {
    const found = await unified
      .selectFrom('unified_rooms')
      .selectAll()
      .where('hotel_code', '=', target.hotelCode)
      .where('room_code', '=', target.roomCode)
      .executeTakeFirst();
    return found?.legacy_position && found.cloud_position ? found : undefined;
  });
  assert.deepEqual([row.rate_minor, row.currency, row.rate_source], ['12900', 'EUR', 'legacy']);
  const conflicts = await unified
    .selectFrom('conflict_audit')
    .select(['field', 'winning_source'])
    .where('hotel_code', '=', target.hotelCode)
    .where('room_code', '=', target.roomCode)
    .execute();
  assert.deepEqual(conflicts, [{ field: 'rate', winning_source: 'legacy' }]);
  await waitFor('the other two rooms in the unified view', async () => (await unified.selectFrom('unified_rooms').select('room_code').execute()).length === 3);

  phase('written and merged');
  const workflowId = roomWorkflowId(target);
  try {
    // 1. Find it. Each filter alone lists two rooms; both together exactly this one.
    assert.deepEqual(await ui.listWorkflows(`HotelCode="${target.hotelCode}"`), [workflowId, roomWorkflowId(sameHotel)].sort());
    await ui.screenshot('1-list-by-hotel');
    assert.deepEqual(await ui.listWorkflows(`RoomCode="${target.roomCode}"`), [workflowId, roomWorkflowId(sameRoomCode)].sort());
    assert.deepEqual(await ui.listWorkflows(`HotelCode="${target.hotelCode}" AND RoomCode="999"`), [], 'a room nobody wrote has no workflow');
    const listed = await ui.listWorkflows(`HotelCode="${target.hotelCode}" AND RoomCode="${target.roomCode}"`);
    await ui.screenshot('2-list-by-room');
    assert.deepEqual(listed, [workflowId], 'exactly the room workflow: neither UIT1/102 nor UIT2/101');
    await ui.page.getByRole('link', { name: 'roomWorkflow', exact: true }).first().waitFor();

    phase('UI: four filtered lists');

    // 2. Open it from the list and read its history: each source's signal, each followed by an apply.
    await ui.openFromList(workflowId);
    const events = await ui.historyEvents((rows) => signals(rows).length >= 2 && appliedFrom(rows, 'legacy') && appliedFrom(rows, 'cloud'));
    await ui.screenshot('3-history');
    await ui.screenshot('3-history-events', ui.historyTable());
    for (const event of events) t.diagnostic(`history: ${event.text}`);
    assert.match(events[0]?.text ?? '', /Workflow Execution Started.*roomWorkflow/);
    assert.ok(signals(events).length >= 2, 'a sourceChanges signal from each source');
    assert.ok(appliedFrom(events, 'legacy'), 'an apply of the legacy change (local activity, summary "apply legacy …")');
    assert.ok(appliedFrom(events, 'cloud'), 'an apply of the cloud change (summary "apply cloud …")');
    for (const signal of signals(events)) {
      assert.ok(
        applies(events).some((apply) => apply.eventId > signal.eventId),
        `signal event ${signal.eventId} is followed by an apply`,
      );
    }

    phase('UI: history');

    // 3. The search attributes the connector sets and the workflow keeps current.
    const attributes = await ui.tabText('Search Attributes');
    await ui.screenshot('4-search-attributes');
    const expected = { HotelCode: 'UIT1', RoomCode: '101', SyncRole: 'room', HotelClass: 'legacy-managed', PolicyVersion: policy.policyVersion };
    for (const [name, value] of Object.entries(expected)) {
      assert.ok(attributes.includes(`"${name}": "${value}"`), `search attributes show ${name} = ${value}`);
    }

    phase('UI: search attributes');

    // 4. The links `room-sync room UIT1/101` prints lead to the same list and the same history.
    const lookup = await lookUpRoom(unified, target, { url: ui.baseUrl, namespace: env.namespace ?? 'default' });
    assert.deepEqual(await ui.listWorkflowsAt(lookup.searchUrl), [workflowId], `"find" link ${lookup.searchUrl}`);
    await ui.openUrl(lookup.workflowUrl, workflowId);
    const linked = await ui.historyEvents((rows) => rows.length >= events.length);
    await ui.screenshot('5-room-lookup-link');
    assert.deepEqual(linked.slice(0, events.length), events, `"history" link ${lookup.workflowUrl}`);
    phase('UI: room lookup links');
  } catch (error) {
    await ui.screenshot('failure').catch(() => undefined);
    throw error;
  }
});
