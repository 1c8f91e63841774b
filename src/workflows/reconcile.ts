import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createMonitoringActivities } from '../activities/monitoring.js';
import type { createReconcileActivities, ReconcileActivityResult } from '../activities/reconcile.js';
import type { SourceName } from '../domain/room.js';
import type { AlertEvent } from '../monitoring/lag-state.js';

type Activities = ReturnType<typeof createMonitoringActivities> & ReturnType<typeof createReconcileActivities>;

// A reconcile reads whole sources: long, alive while it heartbeats, tried once more if its worker dies.
const { reconcileSources } = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '5 minutes',
  retry: { initialInterval: '1 minute', maximumAttempts: 2 },
});
const { recordAlertEvent, enqueueAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 5 },
});

export interface ScheduledReconcileInput {
  readonly sources: readonly SourceName[];
  /** The monitor's alert channels (names only: URLs stay on the worker) and the monitor whose outboxes deliver them. */
  readonly channelNames: readonly string[];
  readonly monitorWorkflowId: string;
}

/**
 * What the reconcile schedule starts (daily by default, RECONCILE_SCHEDULE): a reconcile of
 * each source without repair; rooms that differ raise a warning through the monitor's
 * notification path (the alerts table, then each channel's outbox), and a clean run resolves
 * the source's open reconcile alert. Runs on the monitor's task queue.
 */
export async function scheduledReconcileWorkflow(input: ScheduledReconcileInput): Promise<ReconcileActivityResult> {
  const result = await reconcileSources({ sources: input.sources });
  const at = new Date().toISOString();
  for (const summary of result.sources) {
    let event: AlertEvent | null = null;
    if (summary.differing > 0) {
      event = {
        kind: 'warn',
        source: summary.source,
        incidentKey: summary.openIncident ?? `room-sync/reconcile/${summary.source}/${workflowInfo().workflowId}`,
        lagSeconds: 0,
        thresholdSeconds: 0,
        reconcile: { rooms: summary.differing, sample: summary.sample },
      };
    } else if (summary.openIncident !== null) {
      event = { kind: 'resolve', wasPaging: false, source: summary.source, incidentKey: summary.openIncident, lagSeconds: 0, thresholdSeconds: 0, reconcile: { rooms: 0, sample: [] } };
    }
    if (event === null) continue;
    await recordAlertEvent({ event, at });
    if (input.channelNames.length > 0) {
      await enqueueAlert({ monitorWorkflowId: input.monitorWorkflowId, channelNames: input.channelNames, item: { id: `${event.incidentKey}/${event.kind}/${workflowInfo().workflowId}`, event, at } });
    }
  }
  return result;
}
