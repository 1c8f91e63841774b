import { defaultGrpcRetryOptions, isRetryableError, makeGrpcRetryInterceptor, type GrpcRetryOptions } from '@temporalio/client';

type StatusObject = Parameters<GrpcRetryOptions['delayFunction']>[1];

/** gRPC status code 8 (the client's own grpc-js is not a dependency of ours). */
const resourceExhausted: StatusObject['code'] = 8;

/** What a retried call reports: enough to tell a busy workflow from an unreachable server. */
export type RetryObserver = (attempt: number, status: StatusObject, delayMs: number) => void;

const busyInitialMs = 50;
const busyMaxMs = 1_000;

/**
 * The client's default retries, except RESOURCE_EXHAUSTED. The SDK backs that off from
 * 1 s up to 5 s, meant for namespace rate limits; the server also answers it ("workflow
 * is closing") to calls that reach a workflow in the middle of continuing as new, which
 * clears as soon as the new run exists. Measured on the dev server: deliveries to a
 * partition workflow waited 4.7 and 9.8 s (two and three default back-offs) at a
 * hand-over, and acknowledgement, hence source lag, waited with them.
 */
export function busyWorkflowRetryOptions(observe?: RetryObserver): GrpcRetryOptions {
  const defaults = defaultGrpcRetryOptions();
  return {
    retryableDecider: (attempt, status) => attempt < 12 && isRetryableError(status),
    delayFunction: (attempt, status) => {
      const delayMs =
        status.code === resourceExhausted
          ? Math.min(busyMaxMs, busyInitialMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4)
          : defaults.delayFunction(attempt, status);
      observe?.(attempt, status, delayMs);
      return delayMs;
    },
  };
}

export function busyWorkflowRetryInterceptor(observe?: RetryObserver) {
  return makeGrpcRetryInterceptor(busyWorkflowRetryOptions(observe));
}
