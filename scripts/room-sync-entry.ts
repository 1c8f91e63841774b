// How tests start `room-sync` as a process of their own. Through tsx every start costs some
// 2 s of CPU (each of ~1,000 modules passes its loader); the test run builds the CLI once into
// one ES module with esbuild (the same transform tsx applies, packages left to node_modules),
// which starts in about 1 s. A suite run on its own, the bench and users run the sources.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../src/setup/source-schemas.js';

export const builtCliVariable = 'ROOM_SYNC_BUILT_CLI';

/** Node's arguments for `room-sync <args>`: the built CLI where the test run made one, else the sources through tsx. */
export function roomSyncNodeArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const built = env[builtCliVariable];
  return built ? [built, ...args] : ['--import', 'tsx', join(projectRoot, 'src', 'cli', 'main.ts'), ...args];
}

/** Bundles src/cli/main.ts into `<dir>/room-sync.mjs` (under the project, so its packages resolve from node_modules). */
export async function buildCli(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const outfile = join(dir, 'room-sync.mjs');
  await build({
    entryPoints: [join(projectRoot, 'src', 'cli', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return outfile;
}
