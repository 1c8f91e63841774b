import v8 from 'node:v8';

/**
 * V8 heap settings for a process that runs room workflows, applied before the SDK starts its
 * workflow threads (docs/capacity.md, Memory). V8 grows an isolate's old space up to four times
 * what survives a collection when the mutator allocates fast, as the worker does while
 * workflows open or replay, and keeps what it grew: a 100 MiB live heap held 180 MiB. With the
 * growth capped at 25% over what survives, and 2 MiB semi-spaces, a worker with 10,000 open
 * workflows held 581 MiB against 680 (peak 858); small semi-spaces alone made it worse (more
 * promoted into an old space that still grew fourfold). No CPU cost measured at 50/s.
 * Growth is read at every collection, so it takes effect in every isolate of the process; the
 * semi-space size in the isolates created after it (the workflow threads). The main isolate's
 * is set on the command line only (`node --max-semi-space-size=2`).
 */
export const defaultWorkerV8Flags = ['--heap-growing-percent=25', '--max-semi-space-size=2'] as const;

const v8FlagPattern = /^--[a-z0-9][a-z0-9-]*(=[A-Za-z0-9._-]+)?$/;

/** WORKER_V8_FLAGS: space-separated V8 flags, `off` for V8's defaults. */
export function parseWorkerV8Flags(setting: string): string[] {
  const trimmed = setting.trim();
  if (trimmed === 'off') return [];
  return trimmed.split(/\s+/).filter((flag) => flag !== '');
}

export function isV8Flag(flag: string): boolean {
  return v8FlagPattern.test(flag);
}

/** Sets the flags in this process's V8 (idempotent); they apply to collections and isolates from now on. */
export function applyWorkerV8Flags(flags: readonly string[]): void {
  for (const flag of flags) v8.setFlagsFromString(flag);
}
