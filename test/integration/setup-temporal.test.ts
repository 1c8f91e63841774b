// Starts the real Temporal CLI dev server on a random port and checks it is
// usable and that stop() really frees the port.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Connection } from '@temporalio/client';
import {
  ensureTemporalCli,
  isTemporalReachable,
  startTemporalDevServer,
  superviseDevServer,
  temporalCliPath,
} from '../../src/setup/temporal.js';
import { projectRoot } from '../../src/setup/source-schemas.js';


test('dev server starts, serves default + extra namespace, and stops', { timeout: 120_000 }, async () => {
  const cliPath = await ensureTemporalCli(projectRoot, (m) => console.log(m));
  assert.equal(cliPath, temporalCliPath(projectRoot));

  const port = 17233 + Math.floor(Math.random() * 2_000);
  const address = `127.0.0.1:${port}`;
  assert.equal(await isTemporalReachable(address), false, `port ${port} already in use`);
  const dataDir = await mkdtemp(join(tmpdir(), 'rs-temporal-'));
  const server = await startTemporalDevServer({
    cliPath,
    dataDir,
    address,
    uiPort: port + 1_000,
    namespace: 'rs-setup-test', // non-default: exercises --namespace
    log: () => undefined,
  });
  try {
    assert.equal(typeof server.pid, 'number');
    const conn = await Connection.connect({ address });
    try {
      for (const namespace of ['default', 'rs-setup-test']) {
        const ns = await conn.workflowService.describeNamespace({ namespace });
        assert.equal(ns.namespaceInfo?.name, namespace);
      }
    } finally {
      await conn.close();
    }
  } finally {
    await server.stop();
  }
  assert.equal(await isTemporalReachable(address), false);
  await server.stop(); // idempotent
  await rm(dataDir, { recursive: true, force: true });
});

test('a supervised dev server killed with SIGKILL is started again on the same data and port', { timeout: 180_000 }, async () => {
  const cliPath = await ensureTemporalCli(projectRoot, (m) => console.log(m));
  const port = 19_300 + Math.floor(Math.random() * 2_000);
  const address = `127.0.0.1:${port}`;
  assert.equal(await isTemporalReachable(address), false, `port ${port} already in use`);
  const dataDir = await mkdtemp(join(tmpdir(), 'rs-temporal-'));
  const options = { cliPath, dataDir, address, uiPort: port + 1_000, namespace: 'default', log: () => undefined };
  const first = await startTemporalDevServer(options);
  const lines: string[] = [];
  const stop = superviseDevServer(first, () => startTemporalDevServer(options), (line) => lines.push(line));
  try {
    // A workflow id that only the first server's SQLite file knows: found again, the restart kept the data.
    const conn = await Connection.connect({ address });
    const workflowId = `supervised-${port}`;
    try {
      await conn.workflowService.startWorkflowExecution({
        namespace: 'default',
        workflowId,
        workflowType: { name: 'nothing' },
        taskQueue: { name: 'nobody-polls' },
        requestId: workflowId,
      });
    } finally {
      await conn.close();
    }
    process.kill(first.pid ?? 0, 'SIGKILL');
    await first.exited;
    const deadline = Date.now() + 90_000;
    let described = false;
    while (!described && Date.now() < deadline) {
      try {
        const again = await Connection.connect({ address, connectTimeout: '2s' });
        try {
          const execution = await again.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId } });
          described = execution.workflowExecutionInfo?.execution?.workflowId === workflowId;
        } finally {
          await again.close();
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    assert.ok(described, 'the restarted server answers with the first one\'s data');
    assert.ok(lines.some((line) => line.includes('exited unexpectedly (signal SIGKILL)')), lines.join('\n'));
  } finally {
    await stop();
  }
  assert.equal(await isTemporalReachable(address), false, 'stop() ends the restarted server too');
  await rm(dataDir, { recursive: true, force: true });
});
