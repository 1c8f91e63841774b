import { continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { createMonitoringActivities, MonitorReadings, SourceReading } from '../activities/monitoring.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { evaluateLag, initialAlertState, type AlertEvent, type SourceAlertState } from '../monitoring/lag-state.js';
import { evaluateQuarantines, type QuarantineIncidents } from '../monitoring/quarantine-alerts.js';
import { monitorSettingsSignal, monitorStateQuery, type MonitorSettings } from './messages.js';

type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;

const { checkSources, recordAlertEvent } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

// A failing channel is retried with backoff, then given up: it never holds up the checks.
const { deliverAlert } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});

export interface LagMonitorInput {
  readonly settings: MonitorSettings;
  readonly states?: Readonly<Record<SourceName, SourceAlertState>>;
  readonly quarantines?: QuarantineIncidents;
}

const checksPerRun = 720;
const noReadings: MonitorReadings = { sources: [], quarantinedRooms: [] };

/**
 * Checks each source's lag on an interval and drives its alert state machine (one page
 * per incident, one resolve), and pages once for every room a room workflow quarantined.
 * Lag is what has been applied: the acked lag, or the age of the oldest change Temporal
 * took that no apply has, whichever is larger. Alerts are recorded before channels are
 * notified; deliveries run beside the loop, so a slow pager cannot delay the next check.
 */
export async function lagMonitorWorkflow(input: LagMonitorInput): Promise<void> {
  let settings = input.settings;
  const states: Record<SourceName, SourceAlertState> = {
    legacy: input.states?.legacy ?? initialAlertState,
    cloud: input.states?.cloud ?? initialAlertState,
  };
  let quarantines: QuarantineIncidents = input.quarantines ?? {};
  let lastReadings: readonly SourceReading[] = [];
  let checks = 0;
  const deliveries = new Set<Promise<void>>();

  setHandler(monitorSettingsSignal, (next) => {
    settings = next;
  });
  setHandler(monitorStateQuery, () => ({
    settings,
    sources: { ...states },
    lastReadings,
    checks,
    quarantines: Object.fromEntries(Object.entries(quarantines).map(([room, incident]) => [room, incident.incidentKey])),
  }));

  const raise = async (event: AlertEvent, at: string) => {
    try {
      await recordAlertEvent({ event, at });
    } catch {
      // The page still goes out; the activity's failure is in this workflow's history.
    }
    for (const channelName of settings.channelNames) {
      const delivery: Promise<void> = deliverAlert({ channelName, event, at })
        .catch(() => undefined) // every failed attempt is already in alert_deliveries and the log
        .finally(() => deliveries.delete(delivery));
      deliveries.add(delivery);
    }
  };

  while (checks < checksPerRun && !workflowInfo().continueAsNewSuggested) {
    let readings = noReadings;
    try {
      readings = await checkSources({ staleAfterSeconds: settings.staleAfterSeconds, validForSeconds: settings.validForSeconds });
    } catch {
      // The unified database itself is unreachable: freshness rows age out and the booking view stops selling.
    }
    lastReadings = readings.sources;
    const at = new Date().toISOString(); // workflow time: replays see the same value
    for (const source of sourceNames) {
      const reading = readings.sources.find((candidate) => candidate.source === source);
      const { state, events } = evaluateLag(source, states[source], reading?.appliedLagSeconds ?? null, settings.thresholds, at);
      states[source] = state;
      for (const event of events) await raise(event, at);
    }
    if (readings !== noReadings) {
      const judged = evaluateQuarantines(quarantines, readings.quarantinedRooms);
      quarantines = judged.open;
      for (const event of judged.events) await raise(event, at);
    }
    checks += 1;
    await sleep(settings.checkIntervalSeconds * 1000);
  }
  await Promise.all(deliveries);
  await continueAsNew<typeof lagMonitorWorkflow>({ settings, states, quarantines });
}
