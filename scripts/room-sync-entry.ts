// How npm test, the bench and `npm start` start `room-sync` and the integration suites as
// processes of their own. Through tsx every start costs some 2-3 s of CPU (each of ~1,000
// modules passes its loader) and the process keeps tsx's loader thread and the transpiled
// sources (some 45 MiB resident); built once into ES modules with esbuild (the same transform
// tsx applies, packages left to node_modules), they start in about half that. A suite run on
// its own runs the sources through tsx.
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build, buildSync } from 'esbuild';
import { projectRoot } from '../src/setup/source-schemas.js';

export const builtCliVariable = 'ROOM_SYNC_BUILT_CLI';

/** As tsx transforms our sources, into ES modules for Node 20; packages stay in node_modules. */
const bundled = { bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' } as const;

/** Node's arguments for `room-sync <args>`: the built CLI where the test run made one, else the sources through tsx. */
export function roomSyncNodeArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const built = env[builtCliVariable];
  return built ? [built, ...args] : ['--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts'), ...args];
}

/** What buildCli and buildCliSync build: src/cli/main.ts into `<dir>/room-sync.mjs` (under the project, so its packages resolve from node_modules). */
function cliBuildOptions(dir: string) {
  return { entryPoints: [join(projectRoot, 'src', 'cli', 'main.ts')], outfile: join(dir, 'room-sync.mjs'), ...bundled };
}

export async function buildCli(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const options = cliBuildOptions(dir);
  await build(options);
  return options.outfile;
}

/** buildCli for callers that cannot wait (a child process about to be spawned); esbuild takes well under a second. */
export function buildCliSync(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const options = cliBuildOptions(dir);
  buildSync(options);
  return options.outfile;
}

/**
 * The integration suites bundled the same way, one module each in `dir` (named like the suite, so
 * it finds its namespace), with source maps so a failure points at the suite's own lines.
 */
export async function buildSuites(files: readonly string[], dir: string): Promise<Map<string, string>> {
  await mkdir(dir, { recursive: true });
  await build({
    entryPoints: [...files],
    outdir: dir,
    entryNames: '[name]',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    ...bundled,
  });
  return new Map(files.map((file) => [file, join(dir, `${basename(file).replace(/\.ts$/, '')}.mjs`)]));
}
