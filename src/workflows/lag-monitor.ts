import { continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { createMonitoringActivities } from '../activities/monitoring.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { evaluateLag, initialAlertState, type SourceAlertState } from '../monitoring/lag-state.js';
import { monitorSettingsSignal, monitorStateQuery, type MonitorSettings } from './messages.js';
import type { SourceReading } from '../activities/monitoring.js';

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
}

const checksPerRun = 720;

/**
 * Checks each source's lag on an interval and drives its alert state machine:
 * one page per incident, one resolve when it recovers. Alerts are recorded before
 * channels are notified; deliveries run beside the loop, so a slow pager cannot
 * delay the next check.
 */
export async function lagMonitorWorkflow(input: LagMonitorInput): Promise<void> {
  let settings = input.settings;
  const states: Record<SourceName, SourceAlertState> = {
    legacy: input.states?.legacy ?? initialAlertState,
    cloud: input.states?.cloud ?? initialAlertState,
  };
  let lastReadings: SourceReading[] = [];
  let checks = 0;
  const deliveries = new Set<Promise<void>>();

  setHandler(monitorSettingsSignal, (next) => {
    settings = next;
  });
  setHandler(monitorStateQuery, () => ({ settings, sources: { ...states }, lastReadings, checks }));

  while (checks < checksPerRun && !workflowInfo().continueAsNewSuggested) {
    try {
      lastReadings = await checkSources({ staleAfterSeconds: settings.staleAfterSeconds, validForSeconds: settings.validForSeconds });
    } catch {
      // The unified database itself is unreachable: freshness rows age out and the booking view stops selling.
      lastReadings = [];
    }
    const at = new Date().toISOString(); // workflow time: replays see the same value
    for (const source of sourceNames) {
      const reading = lastReadings.find((candidate) => candidate.source === source);
      const { state, events } = evaluateLag(source, states[source], reading?.lagSeconds ?? null, settings.thresholds, at);
      states[source] = state;
      for (const event of events) {
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
      }
    }
    checks += 1;
    await sleep(settings.checkIntervalSeconds * 1000);
  }
  await Promise.all(deliveries);
  await continueAsNew<typeof lagMonitorWorkflow>({ settings, states });
}
