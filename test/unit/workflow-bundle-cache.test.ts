// The workflow bundle cache: built once per content of the sources, reused by the next start,
// rebuilt when any source file changes. Bundles a tiny workflow module with the SDK's webpack.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { cachedWorkflowBundle, type BundleLog } from '../../src/workers/workflow-bundle.js';

// Inside the project, so webpack resolves the SDK's own modules from its node_modules.
await mkdir(join(projectRoot, '.data'), { recursive: true });
const scratch = await mkdtemp(join(projectRoot, '.data', 'test-bundle-cache-'));
after(() => rm(scratch, { recursive: true, force: true }));

const warnings: string[] = [];
const log: BundleLog = { warn: (message) => warnings.push(message) };

test('a bundle is kept by the content of its sources and rebuilt when one changes', { timeout: 120_000 }, async () => {
  const sourceRoot = join(scratch, 'src');
  const cacheDir = join(scratch, 'cache');
  const workflowsPath = join(sourceRoot, 'workflows.ts');
  const lockfile = join(scratch, 'package-lock.json');
  await writeFile(lockfile, '{}');
  await mkdir(sourceRoot, { recursive: true });
  await writeFile(workflowsPath, `export async function greet(): Promise<string> { return 'first-version'; }\n`);
  const spec = { workflowsPath, preloadModules: [], extensionAlias: {} };
  const cache = { dir: cacheDir, sourceRoot, lockfile };

  const first = await cachedWorkflowBundle(spec, cache, log);
  assert.match(first.code, /first-version/);
  const kept = await readdir(cacheDir);
  assert.equal(kept.length, 1, `one bundle kept: ${kept.join(', ')}`);
  const keptAt = (await stat(join(cacheDir, kept[0] ?? ''))).mtimeMs;

  const again = await cachedWorkflowBundle(spec, cache, log);
  assert.equal(again.code, first.code);
  assert.equal(again.sourceMap, first.sourceMap);
  assert.equal((await stat(join(cacheDir, kept[0] ?? ''))).mtimeMs, keptAt, 'read from the cache, not written again');

  await writeFile(workflowsPath, `export async function greet(): Promise<string> { return 'second-version'; }\n`);
  const rebuilt = await cachedWorkflowBundle(spec, cache, log);
  assert.match(rebuilt.code, /second-version/);
  assert.doesNotMatch(rebuilt.code, /first-version/);
  assert.equal((await readdir(cacheDir)).filter((name) => name.endsWith('.json')).length, 2);

  await writeFile(lockfile, '{"lockfileVersion": 3}');
  await cachedWorkflowBundle(spec, cache, log);
  assert.equal((await readdir(cacheDir)).filter((name) => name.endsWith('.json')).length, 3, 'a new lockfile (SDK or webpack version) is a new bundle');

  assert.deepEqual(warnings, []);
});
