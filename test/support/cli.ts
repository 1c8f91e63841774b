import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { roomSyncNodeArgs } from '../../scripts/room-sync-entry.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import type { TestDatabases } from './environment.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment `room-sync` reads, pointed at a suite's databases with their configured (owner) URLs, as ops and legal run it. */
export function cliEnvironment(dbs: TestDatabases, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    UNIFIED_DATABASE_URL: dbs.urls.unified,
    LEGACY_DATABASE_URL: dbs.urls.legacy,
    CLOUD_DATABASE_URL: dbs.urls.cloud,
    POLICY_FILE: join(projectRoot, 'policies/default.yaml'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** `room-sync ...` in a child process with `env`; resolves with its exit code and output, whatever the code. */
export function runRoomSync(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, roomSyncNodeArgs(args, env), { cwd: projectRoot, env }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
