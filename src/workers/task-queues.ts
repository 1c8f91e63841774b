// Task queue names, apart from the worker module so that clients (the lag monitor's starter,
// the reconcile Schedule) can name them without loading the SDK's worker.

/** The lag monitor's own task queue: it keeps checking (and paging) while the room workers are down. */
export function monitorTaskQueue(taskQueue: string): string {
  return `${taskQueue}-monitor`;
}
