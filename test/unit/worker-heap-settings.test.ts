// WORKER_V8_FLAGS: the worker's V8 heap flags (src/workers/heap-settings.ts), their default,
// `off`, and the error a malformed value gives. What the flags do to memory is the bench's
// (docs/capacity.md, Memory), not a test's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { defaultWorkerV8Flags } from '../../src/workers/heap-settings.js';

const base = { HOME: '/nonexistent-room-sync-home' };

test('the worker sets the capped heap growth and small semi-spaces by default', () => {
  assert.deepEqual(loadConfig(base).WORKER_V8_FLAGS, [...defaultWorkerV8Flags]);
});

test('off leaves V8 at its defaults; flags are split on spaces', () => {
  assert.deepEqual(loadConfig({ ...base, WORKER_V8_FLAGS: 'off' }).WORKER_V8_FLAGS, []);
  assert.deepEqual(loadConfig({ ...base, WORKER_V8_FLAGS: '  --heap-growing-percent=40   --max-semi-space-size=4 ' }).WORKER_V8_FLAGS, [
    '--heap-growing-percent=40',
    '--max-semi-space-size=4',
  ]);
});

test('anything but flags is a configuration error naming the setting', () => {
  for (const value of ['heap-growing-percent=25', '--max-semi-space-size=2;rm', '--a=b c']) {
    assert.throws(() => loadConfig({ ...base, WORKER_V8_FLAGS: value }), (error: unknown) => error instanceof ConfigError && /WORKER_V8_FLAGS/.test(error.message));
  }
});

test('the flags reach the isolates started after them: a workflow-like thread keeps 2 MiB semi-spaces', () => {
  // In a child process, so this test runner keeps V8's defaults. The thread allocates objects
  // that survive a while (as a workflow thread's activations do), which makes V8 grow its new
  // space to its maximum: 2 x 16 MiB by default, 2 x 2 MiB with the flags.
  const script = (apply: boolean) => `
    import { Worker } from 'node:worker_threads';
    import { applyWorkerV8Flags, defaultWorkerV8Flags } from './src/workers/heap-settings.ts';
    ${apply ? 'applyWorkerV8Flags(defaultWorkerV8Flags);' : ''}
    const thread = \`
      const v8 = require('node:v8');
      const ring = new Array(200000);
      let max = 0;
      for (let i = 0; i < 2e6; i++) {
        ring[i % ring.length] = { i, s: [i] };
        if (i % 50000 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size);
      }
      require('node:worker_threads').parentPort.postMessage(max);\`;
    new Worker(thread, { eval: true, execArgv: [] }).on('message', (max) => process.stdout.write(String(max)));`;
  const newSpaceMiB = (apply: boolean) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(apply)], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    return Number(child.stdout) / 1024 / 1024;
  };
  assert.ok(newSpaceMiB(true) <= 4, 'with the flags, new space stays within two 2 MiB semi-spaces');
  assert.ok(newSpaceMiB(false) > 4, "without them it grows past that (V8's default)");
});
