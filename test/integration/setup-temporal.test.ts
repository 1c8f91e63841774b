// Starts the real Temporal CLI dev server on a random port and checks it is
// usable and that stop() really frees the port.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import {
  ensureTemporalCli,
  isTemporalReachable,
  startTemporalDevServer,
  temporalCliPath,
} from '../../src/setup/temporal.js';

const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

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
