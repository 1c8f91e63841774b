import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { buildCliSync, builtCliVariable, roomSyncNodeArgs } from '../scripts/room-sync-entry.js';
import { projectRoot } from '../src/setup/source-schemas.js';

let builtRoomSync: string | null = null;

/**
 * The bench measures `room-sync` as `npm start` and a deployment run it: built (scripts/build.ts),
 * not through tsx, whose loader thread and transpiled sources add some 45 MiB to every process.
 * Built once per bench process, from the sources as they are now; a run under npm test uses the test run's build.
 */
function roomSyncArgs(args: readonly string[]): string[] {
  if (process.env[builtCliVariable] === undefined) {
    builtRoomSync ??= buildCliSync(join(projectRoot, '.data', 'bench-cli'));
    return roomSyncNodeArgs(args, { ...process.env, [builtCliVariable]: builtRoomSync });
  }
  return roomSyncNodeArgs(args);
}

/**
 * A child process the bench runs and measures: output goes to a log file, and it is
 * stopped with SIGTERM (the CLI's clean stop), then SIGKILL after a grace period.
 */
export class ChildService {
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        resolve(this.exitCode);
      });
    });
  }

  static start(name: string, args: readonly string[], env: Readonly<Record<string, string>>, logPath: string, nodeArgs: readonly string[] = []): ChildService {
    const fd = openSync(logPath, 'a');
    try {
      // `room-sync` itself starts built (roomSyncArgs); anything else through tsx.
      const script = args[0] === 'src/cli/main.ts' ? roomSyncArgs(args.slice(1)) : ['--import', 'tsx', ...args];
      const child = spawn(process.execPath, [...nodeArgs, ...script], {
        cwd: projectRoot,
        env: { ...process.env, ...env },
        stdio: ['ignore', fd, fd],
      });
      return new ChildService(name, child, logPath);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no pid`);
    return pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** SIGKILL, no clean stop (the cold-start phase); resolves once it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(graceMs = 20_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
