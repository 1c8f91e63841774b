// The Temporal SDK's process-wide Runtime, installed on first use by whatever needs the native
// core (a worker connection, a replay). Loading @temporalio/worker costs about a second of CPU
// (the core bridge, webpack for the bundler), so commands that never touch a worker do not load it.
import type { LogLevel } from '../observability/logger.js';
import { createLogger } from '../observability/logger.js';
import { temporalSdkLogger } from '../observability/temporal-logger.js';

let installed: Promise<typeof import('@temporalio/worker')> | null = null;

/** The SDK's worker module, with the Runtime installed to log through our logger (JSON, redacted); the SDK's chatter only when something is wrong. */
export function temporalWorkerModule(logLevel: LogLevel): Promise<typeof import('@temporalio/worker')> {
  installed ??= import('@temporalio/worker').then((sdk) => {
    try {
      sdk.Runtime.install({ logger: temporalSdkLogger(createLogger('temporal'), logLevel === 'debug' ? 'DEBUG' : 'WARN') });
    } catch (error) {
      // A process that made its Runtime already (one embedding a worker, a test) keeps it and its logger.
      if (!(error instanceof sdk.errors.IllegalStateError)) throw error;
    }
    return sdk;
  });
  return installed;
}
