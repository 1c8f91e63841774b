// The workflow bundle cache: built once per content of the sources, reused by the next start,
// rebuilt when any source file changes. Bundles a tiny workflow module with the SDK's webpack.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { cachedWorkflowBundle, pruneWorkflowBundles, workflowBundleKey, type BundleLog } from '../../src/workers/workflow-bundle.js';

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


  assert.deepEqual(warnings, []);
});

test('the key changes with the lockfile (SDK or webpack version) and with any source file, not with the clock', async () => {
  const sourceRoot = join(scratch, 'key-src');
  const lockfile = join(scratch, 'key-lock.json');
  await mkdir(join(sourceRoot, 'nested'), { recursive: true });
  await writeFile(join(sourceRoot, 'nested', 'a.ts'), 'export const a = 1;\n');
  await writeFile(lockfile, '{}');
  const spec = { workflowsPath: join(sourceRoot, 'nested', 'a.ts'), preloadModules: [], extensionAlias: {} };
  const key = () => workflowBundleKey(spec, { sourceRoot, lockfile });
  const first = await key();
  await utimes(join(sourceRoot, 'nested', 'a.ts'), new Date(2001, 0, 1), new Date(2001, 0, 1));
  assert.equal(await key(), first, 'touching a file is no change');
  await writeFile(lockfile, '{"lockfileVersion": 3}');
  const afterLockfile = await key();
  assert.notEqual(afterLockfile, first);
  await writeFile(join(sourceRoot, 'nested', 'b.ts'), 'export const b = 2;\n');
  assert.notEqual(await key(), afterLockfile, 'a new source file is a change');
});

test('the newest bundles are kept, the oldest go', async () => {
  const dir = join(scratch, 'prune');
  await mkdir(dir, { recursive: true });
  const names = ['workflows-01.json', 'workflows-02.json', 'workflows-03.json', 'workflows-04.json', 'workflows-05.json', 'workflows-06.json'];
  for (const [index, name] of names.entries()) {
    await writeFile(join(dir, name), '{}');
    await utimes(join(dir, name), new Date(2020, 0, index + 1), new Date(2020, 0, index + 1));
  }
  await writeFile(join(dir, 'unrelated.txt'), 'kept');
  await pruneWorkflowBundles(dir, 4);
  assert.deepEqual((await readdir(dir)).sort(), ['unrelated.txt', 'workflows-03.json', 'workflows-04.json', 'workflows-05.json', 'workflows-06.json']);
});
