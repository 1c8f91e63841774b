// An upgrade from room-group workflows leaves nothing behind: each applies what it holds
// and completes once `npm start` retires it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { retireRoomGroupWorkflows } from '../../src/app/retire-room-groups.js';
import type { SourceChange } from '../../src/mapping/change.js';
import { createLogger } from '../../src/observability/logger.js';
import { sourceChangesSignal } from '../../src/workflows/messages.js';
import { roomGroupWorkflow } from '../../src/workflows/room-group.js';
import { createTestDatabases, defaultPolicy, startTestTemporal, TestPipeline, waitFor, type TestDatabases } from '../support/environment.js';

let env: TestWorkflowEnvironment;
let dbs: TestDatabases;
let pipeline: TestPipeline;

before(async () => {
  env = await startTestTemporal();
  dbs = await createTestDatabases('upgrade');
  pipeline = new TestPipeline(env, dbs, await defaultPolicy());
});

after(async () => {
  await pipeline?.stop();
  await dbs?.drop();
  await env?.teardown();
});

function cloudChange(roomCode: string, ordinal: number, availability: number): SourceChange {
  return {
    kind: 'room',
    source: 'cloud',
    hotelCode: 'UPG1',
    roomCode,
    position: `0000000007000000:${ordinal.toString(16).toUpperCase().padStart(8, '0')}`,
    commitTime: '2026-11-27T09:00:00.000Z',
    values: { roomType: 'twin', rateMinor: 9000, currency: 'EUR', availability, status: 'open' },
  };
}

test('room-group workflows of an earlier release apply what they hold, then complete when retired', async () => {
  // Signalled while no worker runs: the changes wait in their histories, as after an upgrade.
  const groups = ['rooms/partition-0-of-4', 'hotel/UPG1'];
  for (const [index, group] of groups.entries()) {
    await env.client.workflow.signalWithStart(roomGroupWorkflow, {
      workflowId: group,
      taskQueue: pipeline.taskQueue,
      args: [{ group }],
      signal: sourceChangesSignal,
      signalArgs: [[cloudChange(String(index + 1), index + 1, index + 3)]],
    });
  }
  await pipeline.startWorker();
  const retired = await waitFor('both listed by visibility', async () => {
    const count = await retireRoomGroupWorkflows(env.client, createLogger('test.upgrade'));
    return count === groups.length ? count : undefined;
  });
  assert.equal(retired, 2);
  for (const group of groups) {
    const description = await waitFor(`${group} completed`, async () => {
      const described = await env.client.workflow.getHandle(group).describe();
      return described.status.name === 'COMPLETED' ? described : undefined;
    });
    assert.equal(description.status.name, 'COMPLETED');
  }
  const rows = await dbs.unified.selectFrom('unified_rooms').select(['room_code', 'availability']).where('hotel_code', '=', 'UPG1').orderBy('room_code').execute();
  assert.deepEqual(rows, [
    { room_code: '1', availability: 3 },
    { room_code: '2', availability: 4 },
  ], 'what they held was applied before they completed');
  // Visibility follows the completions a moment later.
  await waitFor('nothing left running', async () => (await retireRoomGroupWorkflows(env.client, createLogger('test.upgrade'))) === 0);
});
