import { join } from 'node:path';
import { projectRoot } from '../src/setup/source-schemas.js';

/** The server the bench creates its own databases on; BENCH_POSTGRES_URL overrides. */
export const serverUrl = process.env['BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Names the bench's databases (BENCH_DATABASE_PREFIX: two benches on one server keep apart). */
export const benchDatabasePrefix = process.env['BENCH_DATABASE_PREFIX'] ?? 'rs_bench_';

/** The bench's own databases: recreated every run, never the demo's or the tests'. */
export const benchDatabaseNames = {
  legacy: `${benchDatabasePrefix}legacy`,
  cloud: `${benchDatabasePrefix}cloud`,
  unified: `${benchDatabasePrefix}unified`,
} as const;
export type BenchDatabase = keyof typeof benchDatabaseNames;

export type DatabaseNames = Readonly<Record<BenchDatabase, string>>;

/** A database on the bench's server: the bench's own by default, or another harness's (bench/faults names one set per scenario). */
export function databaseUrl(database: BenchDatabase, names: DatabaseNames = benchDatabaseNames): string {
  const url = new URL(serverUrl);
  url.pathname = `/${names[database]}`;
  return url.toString();
}

export function adminUrl(): string {
  const url = new URL(serverUrl);
  url.pathname = '/postgres';
  return url.toString();
}

export const benchRoot = join(projectRoot, 'bench');
export const resultsRoot = join(benchRoot, 'results');
/** Temporal's SQLite file and the child processes' logs. */
export const benchDataDir = join(projectRoot, '.data', 'bench');
export const taskQueue = 'room-sync';
export const namespace = 'default';

/** Application names, so the bench can tell its own Postgres sessions from the pipeline's. */
export const applicationNames = {
  generator: 'bench-generator',
  monitor: 'bench-monitor',
  baseline: 'bench-baseline',
} as const;

/** The naive baseline's own slot and publication on each source. */
export const baselinePublication = 'bench_baseline';
export function baselineSlotName(source: string): string {
  return `bench_baseline_${source}`;
}
