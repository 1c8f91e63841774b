// A user clones the project alone: the source DDL the demo and the tests create is carried in
// src/setup/sources, kept identical to the contract's copy wherever that copy sits beside the
// clone, and nothing the project runs reads outside its own folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { bundledSourceDdlDir, projectRoot, sourceDdlDir } from '../../src/setup/source-schemas.js';

const contractSources = join(projectRoot, '..', 'shared', 'sources');
const sources = ['legacy', 'cloud'] as const;

describe('the project carries its source schemas', () => {
  test('the bundled DDL is the default, SOURCE_DDL_DIR overrides it', () => {
    assert.equal(sourceDdlDir({}), bundledSourceDdlDir);
    assert.equal(sourceDdlDir({ SOURCE_DDL_DIR: '/elsewhere' }), '/elsewhere');
  });

  test('both source files are in the project and create their tables', async () => {
    for (const source of sources) {
      const ddl = await readFile(join(bundledSourceDdlDir, `${source}.sql`), 'utf8');
      assert.match(ddl, /CREATE TABLE/i, `${source}.sql creates tables`);
    }
  });

  test('identical to the contract copy beside the clone', async (t) => {
    if (!existsSync(contractSources)) {
      t.skip(`no contract folder at ${contractSources} (a clone on its own): nothing to compare with`);
      return;
    }
    for (const source of sources) {
      const bundled = await readFile(join(bundledSourceDdlDir, `${source}.sql`), 'utf8');
      const contract = await readFile(join(contractSources, `${source}.sql`), 'utf8');
      assert.equal(bundled, contract, `src/setup/sources/${source}.sql differs from the contract's; copy it again`);
    }
  });
});

describe('nothing the project runs reads outside the clone', () => {
  const roots = ['src', 'test', 'bench', 'scripts', 'bin', '.ci', 'deploy'];
  const files = ['package.json', 'docker-compose.yml', 'tsconfig.json', 'eslint.config.js'];
  const thisFile = relative(projectRoot, new URL(import.meta.url).pathname);
  // A path out of the clone into the folder that holds the contract, however it is spelled.
  const outside = [/\.\.\/shared\b/, /['"]\.\.['"]\s*,\s*['"]shared['"]/, /\/work\/shared\b/];

  async function* walk(dir: string): AsyncGenerator<string> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) yield* walk(path);
      else yield path;
    }
  }

  test('no source file names ../shared', async () => {
    const offenders: string[] = [];
    let scanned = 0;
    const candidates: string[] = files.map((file) => join(projectRoot, file)).filter((path) => existsSync(path));
    for (const root of roots) {
      if (existsSync(join(projectRoot, root))) for await (const path of walk(join(projectRoot, root))) candidates.push(path);
    }
    for (const path of candidates) {
      const rel = relative(projectRoot, path);
      if (rel === thisFile || /\.(png|gz|svg)$/.test(rel)) continue;
      const text = await readFile(path, 'utf8');
      scanned += 1;
      text.split('\n').forEach((line, index) => {
        if (outside.some((pattern) => pattern.test(line))) offenders.push(`${rel}:${index + 1}: ${line.trim()}`);
      });
    }
    assert.ok(scanned > 100, `scanned the source tree (${scanned} files)`);
    assert.deepEqual(offenders, []);
  });
});
