// The one Temporal dev server of an `npm test` run: scripts/test.ts starts it, registers a
// namespace per integration suite, and hands its address to the suites through the environment.
import { basename } from 'node:path';

export const sharedTemporalAddressVariable = 'ROOM_SYNC_TEST_TEMPORAL_ADDRESS';
export const sharedTemporalUiVariable = 'ROOM_SYNC_TEST_TEMPORAL_UI';

export interface SharedTestTemporal {
  readonly address: string;
  readonly uiUrl: string | null;
}

export function sharedTestTemporal(env: NodeJS.ProcessEnv = process.env): SharedTestTemporal | null {
  const address = env[sharedTemporalAddressVariable];
  if (!address) return null;
  return { address, uiUrl: env[sharedTemporalUiVariable] ?? null };
}

/** A suite's namespace on the shared server: named after its file, so the runner can register it before the suite starts. */
export function namespaceForSuite(file: string): string {
  return `rs-test-${basename(file).replace(/\.test\.m?[jt]s$/, '').replace(/[^a-z0-9-]/gi, '-')}`;
}

/** The namespace of the suite this process runs: the test runner starts one process per file, with the file as its script. */
export function suiteNamespace(argv: readonly string[] = process.argv): string {
  // The suite's source, or the module npm test built from it (scripts/test.ts).
  const file = argv.find((arg) => /\.test\.m?[jt]s$/.test(arg));
  if (!file) throw new Error(`cannot tell which suite this process runs (argv: ${argv.join(' ')}): run it through npm test`);
  return namespaceForSuite(file);
}
