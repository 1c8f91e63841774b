import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createMonitoringActivities } from '../activities/monitoring.js';
import { alertOutboxSignal, alertOutboxStateQuery, type AlertOutboxItem } from './messages.js';

type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;

// A failing channel is retried with backoff (about a minute in all), then given up; only this
// channel's later events wait meanwhile, never the monitor's checks nor another channel.
const { deliverAlert } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});

export interface AlertOutboxInput {
  readonly channelName: string;
  /** Carried across continue-as-new: events not yet delivered, and the ids of the last ones that were. */
  readonly queue?: readonly AlertOutboxItem[];
  readonly seen?: readonly string[];
}

const deliveriesPerRun = 200;
const remembered = 500;

/**
 * One channel's alert events, delivered one at a time in the order the monitor raised them
 * (so a resolve never overtakes its trigger). Started and fed by signal-with-start from the
 * monitor's enqueueAlert activity; it lives apart from the monitor, so the monitor's
 * continue-as-new never cuts a delivery short, and a channel that keeps failing holds up
 * nothing but its own queue. Waits, idle, for the next event; continues as new after a
 * few hundred deliveries, carrying what is queued.
 */
export async function alertOutboxWorkflow(input: AlertOutboxInput): Promise<void> {
  const { channelName } = input;
  const queue: AlertOutboxItem[] = [...(input.queue ?? [])];
  const seen: string[] = [...(input.seen ?? [])];
  let delivering: AlertOutboxItem | null = null;
  let delivered = 0;
  let givenUp = 0;

  setHandler(alertOutboxSignal, (item) => {
    // The enqueue activity may be retried after the signal landed: the same event once only.
    if (delivering?.id === item.id || seen.includes(item.id) || queue.some((queued) => queued.id === item.id)) return;
    queue.push(item);
  });
  setHandler(alertOutboxStateQuery, () => ({
    channelName,
    pending: queue.map((item) => item.id),
    delivering: delivering?.id ?? null,
    delivered,
    givenUp,
  }));

  while (delivered + givenUp < deliveriesPerRun && !workflowInfo().continueAsNewSuggested) {
    await condition(() => queue.length > 0);
    const item = queue.shift();
    if (!item) continue;
    delivering = item;
    try {
      await deliverAlert({ channelName, event: item.event, at: item.at });
      delivered += 1;
    } catch {
      // Every failed attempt is in alert_deliveries, the log and room_sync_alert_deliveries_total.
      givenUp += 1;
    }
    delivering = null;
    seen.push(item.id);
    if (seen.length > remembered) seen.splice(0, seen.length - remembered);
  }
  await continueAsNew<typeof alertOutboxWorkflow>({ channelName, queue, seen });
}
