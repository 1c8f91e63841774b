import type { Logger } from '../observability/logger.js';
import type { RetryObserver } from '../temporal/client-retry.js';

/** Runs until SIGINT/SIGTERM, then stops the parts in order; a second signal exits at once. */
export async function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn('second signal: exiting without a clean stop', { signal });
        process.exit(130);
      }
      stopping = true;
      log.info('stopping (Ctrl-C again to force)', { signal });
      stop().then(resolve, (error: unknown) => {
        log.error('stop failed', { error });
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Retried Temporal calls at debug level: a busy workflow or a server restart, retried in milliseconds to seconds. */
export function logRetries(log: Logger): RetryObserver {
  return (attempt, status, delayMs) => log.debug('Temporal call retried', { attempt, code: status.code, details: status.details, delayMs: Math.round(delayMs) });
}
