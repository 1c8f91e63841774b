// Determinism guard: every history in test/histories (captured from real runs by
// `npm run histories:capture`) must replay against the current workflow code. A workflow
// change that breaks one would break the workflows running in production the same way:
// guard it with patched() instead, and re-capture (test/histories/README.md).
// No server: Worker.runReplayHistories on the bundled code.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { formatOutcome, historyFromJson, readHistoryFile, replayRuns, type RunToReplay } from '../../src/cli/replay-command.js';
import { bundleRoomSyncWorkflows, bundlerOptions } from '../../src/workers/worker.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const historiesDir = path.join(here, '..', 'histories');
const nondeterministicWorkflows = path.join(here, '..', 'fixtures', 'nondeterministic-workflows', 'index.ts');

interface Captured extends RunToReplay {
  readonly file: string;
  readonly workflowType: string;
}

let histories: Captured[] = [];
let current: WorkflowBundleWithSourceMap;

const silent = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, log: () => undefined };

before(async () => {
  // Core warns of every failed replay task; the third test makes them on purpose.
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } } });
  const files = (await readdir(historiesDir)).filter((file) => file.endsWith('.json')).sort();
  histories = await Promise.all(
    files.map(async (file) => {
      const history = await readHistoryFile(path.join(historiesDir, file));
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      return {
        file,
        // The id only reaches workflowInfo(); the file name keeps failures readable.
        workflowId: `replay/${file}`,
        runId: started?.originalExecutionRunId ?? file,
        workflowType: started?.workflowType?.name ?? 'unknown',
        history,
      };
    }),
  );
  current = await bundleRoomSyncWorkflows();
});

test('the captured histories cover every scenario the capture script runs', () => {
  const scenarios = new Set(histories.map((captured) => captured.file.replace(/(\.run\d+)?\.json$/, '')));
  for (const scenario of ['conflicts', 'fallback', 'class-change', 'continue-as-new', 'quarantine', 're-resolve', 're-resolution', 'lag-monitor']) {
    assert.ok(scenarios.has(scenario), `test/histories has ${scenario} (npm run histories:capture)`);
  }
  assert.ok(histories.filter((captured) => captured.file.startsWith('continue-as-new.run')).length > 1, 'continue-as-new has more than one run');
  assert.deepEqual([...new Set(histories.map((captured) => captured.workflowType))].sort(), ['lagMonitorWorkflow', 'reResolutionWorkflow', 'roomWorkflow']);
});

test('every captured history replays against the current workflow code', async () => {
  const outcomes = await replayRuns(histories, { workflowBundle: current });
  assert.equal(outcomes.length, histories.length, 'one outcome per history');
  const failures = outcomes.filter((outcome) => outcome.error).map(formatOutcome);
  assert.deepEqual(failures, [], `histories that no longer replay:\n${failures.join('\n')}`);
  for (const [index, outcome] of outcomes.entries()) assert.ok(outcome.events > 5, `${histories[index]?.file} has events`);
});

/** A captured history as a run begun under an earlier release records it: its patch marker renamed. */
async function withPatchRenamed(file: string, from: string, to: string): Promise<{ history: History; renamed: number }> {
  const json = JSON.parse(await readFile(path.join(historiesDir, file), 'utf8')) as {
    events: { markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: { data?: string }[] }> } }[];
  };
  let renamed = 0;
  for (const event of json.events) {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') continue;
    for (const payload of Object.values(marker.details ?? {}).flatMap((detail) => detail.payloads ?? [])) {
      const text = Buffer.from(payload.data ?? '', 'base64').toString('utf8');
      if (!text.includes(from)) continue;
      payload.data = Buffer.from(text.replace(from, to), 'utf8').toString('base64');
      renamed += 1;
    }
  }
  return { history: historyFromJson(json), renamed };
}

test('room runs begun under runs of 50 batches still replay (their patch marker, not the 25-batch one)', async () => {
  const { history, renamed } = await withPatchRenamed('conflicts.json', 'room-runs-of-25-batches', 'room-runs-of-50-batches');
  assert.equal(renamed, 1, 'conflicts.json was captured with runs of 25 batches (npm run histories:capture)');
  const [outcome] = await replayRuns([{ workflowId: 'replay/conflicts.runs-of-50', runId: 'conflicts.runs-of-50', history }], { workflowBundle: current });
  assert.equal(outcome?.error, undefined, outcome ? formatOutcome(outcome) : 'no outcome');
});

test('a nondeterministic copy of the room workflow fails to replay every room history', async () => {
  const broken = await bundleWorkflowCode({ workflowsPath: nondeterministicWorkflows, ...bundlerOptions, logger: silent });
  const rooms = histories.filter((captured) => captured.workflowType === 'roomWorkflow');
  assert.ok(rooms.length >= 5);
  const outcomes = await replayRuns(rooms, { workflowBundle: broken });
  assert.equal(outcomes.length, rooms.length);
  for (const [index, outcome] of outcomes.entries()) {
    const file = rooms[index]?.file;
    assert.ok(outcome.error, `${file} replayed with a timer before each apply: the replay test would not catch a determinism break`);
    assert.ok(outcome.error instanceof DeterminismViolationError, `${file}: ${outcome.error.name}: ${outcome.error.message}`);
    // What `room-sync replay` prints: the run, the error and the event the code diverged at.
    assert.match(formatOutcome(outcome), /^DIVERGED replay\//);
    assert.match(outcome.divergingEvent ?? '', /MARKER_RECORDED local activity applyRoomChanges/, `${file}: ${formatOutcome(outcome)}`);
  }
});
