// The Temporal server, its SQL schema tool and the Temporal UI server, built once per
// machine from the Go module proxy into the git-ignored tools folder (as the CLI is).
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { goEnv, goInstall, isExecutable, type Log } from '../setup/go-install.js';

const execFileAsync = promisify(execFile);

export const temporalServerVersion = 'v1.29.1';
/** The UI server the Temporal CLI v1.5.1 embeds; its assets are in the module itself, so it builds with no npm step. */
export const temporalUiServerVersion = 'v2.42.1';

const serverModule = 'go.temporal.io/server';

export interface ClusterBinaries {
  readonly server: string;
  readonly sqlTool: string;
}

export function clusterBinaryPaths(projectRoot: string): ClusterBinaries {
  const bin = join(projectRoot, '.tools', 'bin');
  // go install names a binary after its package folder: cmd/server and cmd/tools/sql.
  return { server: join(bin, 'server'), sqlTool: join(bin, 'sql') };
}

/** The UI server's package folder is also `cmd/server`: it gets a folder of its own so the names do not clash. */
export function uiServerPath(projectRoot: string): string {
  return join(projectRoot, '.tools', 'ui', 'bin', 'server');
}

async function ensureBuilt(path: string, packageAtVersion: string, label: string, log: Log): Promise<string> {
  if (await isExecutable(path)) return path;
  const gobin = join(path, '..');
  await mkdir(gobin, { recursive: true });
  log(`building ${label} (first time only, takes a few minutes)...`);
  const result = await goInstall(gobin, packageAtVersion, label, log);
  if (!result.ok || !(await isExecutable(path))) {
    throw new Error(`Could not build ${label} with go install ${packageAtVersion}. Last output:\n${result.output || `no ${path} produced`}`);
  }
  log(`built ${label} at ${path}`);
  return path;
}

export async function ensureClusterBinaries(projectRoot: string, log: Log): Promise<ClusterBinaries> {
  const paths = clusterBinaryPaths(projectRoot);
  await ensureBuilt(paths.server, `${serverModule}/cmd/server@${temporalServerVersion}`, `Temporal server ${temporalServerVersion}`, log);
  await ensureBuilt(paths.sqlTool, `${serverModule}/cmd/tools/sql@${temporalServerVersion}`, `temporal-sql-tool ${temporalServerVersion}`, log);
  return paths;
}

export async function ensureUiServer(projectRoot: string, log: Log): Promise<string> {
  return ensureBuilt(uiServerPath(projectRoot), `github.com/temporalio/ui-server/v2/cmd/server@${temporalUiServerVersion}`, `Temporal UI server ${temporalUiServerVersion}`, log);
}

const moduleDownload = z.object({ Dir: z.string().min(1) });

/**
 * The server module's source folder in the Go module cache (its schema files live there):
 * `go mod download` fetches it only when the cache lost it.
 */
export async function temporalServerModuleDir(): Promise<string> {
  const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', `${serverModule}@${temporalServerVersion}`], { env: goEnv(), cwd: '/' });
  return moduleDownload.parse(JSON.parse(stdout)).Dir;
}

/** The versioned PostgreSQL (v12 plugin) schema folders of the two stores. */
export function postgresSchemaDirs(moduleDir: string): { main: string; visibility: string } {
  const base = join(moduleDir, 'schema', 'postgresql', 'v12');
  return { main: join(base, 'temporal', 'versioned'), visibility: join(base, 'visibility', 'versioned') };
}
