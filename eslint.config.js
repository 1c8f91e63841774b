// Lint for room-sync: typed typescript-eslint over src/, test/, bench/ and scripts/ (*.ts),
// plain JS rules for the few .js/.mjs files, and the Temporal workflow sandbox rules for
// src/workflows (workflow code is bundled into a deterministic V8 isolate: no Node built-ins,
// no I/O clients, and activities only as types for proxyActivities/proxyLocalActivities).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const nodeGlobals = {
  console: 'readonly',
  process: 'readonly',
  URL: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
};

// Bare names (fs, path, fs/promises, ...) of every Node built-in; `node:*` is a pattern below.
const nodeBuiltins = builtinModules.filter((name) => !name.startsWith('_') && !name.startsWith('node:'));

// src modules a workflow may only `import type` from: they do I/O (pg, kysely, Temporal
// client/worker, HTTP, files) or read the process environment. Workflows may import values
// from the pure ones: domain, mapping, merge, policy/schema, routing, monitoring/lag-state,
// monitoring/quarantine-alerts and each other.
const impureSrcModules = [
  'activities',
  'app',
  'cdc',
  'cli',
  'config',
  'db',
  'demo',
  'observability',
  'policy/load',
  'setup',
  'temporal',
  'workers',
  'monitoring/channels',
];
const impureSrcImport = `^(?:\\.\\./)+(?:src/)?(?:${impureSrcModules.join('|')})(?:[/.]|$)`;

export default defineConfig(
  {
    ignores: ['node_modules/', '.tools/', '.data/', 'artifacts/', 'bench/results/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: nodeGlobals },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself tracks; awaiting each is noise.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // `_name` marks a parameter or binding that is deliberately unused (interface shape, omitted by a rest).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Off: every hit was an `async` stub or mock satisfying a Promise-returning interface
      // (`stop: async () => undefined`); dropping `async` would turn throws into sync throws.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Workflow code runs in Temporal's sandbox; the fixture is a (deliberately
    // nondeterministic) copy of src/workflows/room.ts bundled the same way.
    files: ['src/workflows/**/*.ts', 'test/fixtures/nondeterministic-workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code runs in the Temporal sandbox: no Node built-ins.' })),
            ...['pg', 'kysely'].map((name) => ({ name, message: 'Workflow code must not touch the database; do it in an activity.' })),
            ...['@temporalio/activity', '@temporalio/client', '@temporalio/worker'].map((name) => ({
              name,
              message: 'Workflow code may only use @temporalio/workflow and @temporalio/common.',
            })),
          ],
          patterns: [
            { group: ['node:*'], message: 'Workflow code runs in the Temporal sandbox: no Node built-ins.' },
            { group: ['pg/*', 'kysely/*', '@temporalio/activity/*', '@temporalio/client/*', '@temporalio/worker/*'], message: 'Not allowed in workflow code.' },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: impureSrcImport,
              allowTypeImports: true,
              message: 'Workflows may only `import type` from activities and other I/O modules (use proxyActivities / proxyLocalActivities).',
            },
          ],
        },
      ],
    },
  },
);
