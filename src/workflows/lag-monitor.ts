import { ActivityFailure, ApplicationFailure, continueAsNew, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { createMonitoringActivities, MonitorReadings, SourceReading } from '../activities/monitoring.js';
import { sourceNames, type SourceName } from '../domain/room.js';
import { evaluateLag, initialAlertState, type AlertEvent, type CatchupGrace, type SourceAlertState } from '../monitoring/lag-state.js';
import { evaluateCheckHealth, initialCheckHealth, type CheckHealthState, type MonitorHealth } from '../monitoring/monitor-health.js';
import { evaluateQuarantines, type QuarantineIncidents } from '../monitoring/quarantine-alerts.js';
import { evaluateSlotLoss, initialSlotLossState, type SlotLossState } from '../monitoring/slot-loss-alerts.js';
import { monitorSettingsSignal, monitorStateQuery, type MonitorSettings } from './messages.js';

type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;

const { checkSources, recordAlertEvent } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

// Only Temporal is involved (signal-with-start of each channel's outbox): quick, or Temporal is down and so is this workflow.
const { enqueueAlert } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 5 },
});

// Runs that started before the alert outbox delivered from here, and must replay as they ran.
const { deliverAlert } = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});

/**
 * Patches (test/histories/README.md): runs recorded before each change replay the way they ran.
 * - alert-outbox: events go to each channel's outbox workflow instead of delivery activities of this run.
 * - monitor-health: a failed check, or a source whose slot cannot be read, is judged (and pages in time).
 * - lag-catchup-grace: a lag over the paging threshold that falls fast is a warning for a bounded time.
 * - connector-catchup: so is the lag of a source whose connector reports catching up after it
 *   connected (within the grace, its lag not growing by the paging threshold); a lost slot is a warning.
 */
export const alertOutboxPatch = 'alert-outbox';
export const monitorHealthPatch = 'monitor-health';
export const catchupGracePatch = 'lag-catchup-grace';
export const connectorCatchupPatch = 'connector-catchup';

export interface LagMonitorInput {
  readonly settings: MonitorSettings;
  readonly states?: Readonly<Record<SourceName, SourceAlertState>>;
  readonly quarantines?: QuarantineIncidents;
  readonly health?: MonitorHealth;
  /** The last lost slot raised per source (absent before the connector-catchup patch). */
  readonly slotLosses?: Readonly<Record<SourceName, SlotLossState>>;
  /** Checks before continuing as new (tests shorten it). */
  readonly checksPerRun?: number;
}

const defaultChecksPerRun = 720;
const noReadings: MonitorReadings = { sources: [], quarantinedRooms: [] };

/** Why the check failed, as the activity said it (already scrubbed of secrets there). */
function failureMessage(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const message = cause instanceof ApplicationFailure || cause instanceof Error ? cause.message : String(cause);
  return message.slice(0, 500) || 'check failed';
}

/**
 * Checks each source's lag on an interval and drives its alert state machine (one page
 * per incident, one resolve), and pages once for every room a room workflow quarantined.
 * Lag is what has been applied: the acked lag, or the age of the oldest change Temporal
 * took that no apply has, whichever is larger. A check that fails is not silence: it is a
 * reading of "unknown", judged by the monitor-health state machines (the check as a whole,
 * and each source's slot read), which page when it lasts.
 *
 * Alerts are recorded, then handed to each channel's alert outbox workflow and never waited
 * for. Why not deliver from here: continue-as-new closes this run, and Temporal abandons the
 * activities a closed run scheduled (a retry waiting out its backoff is never dispatched), so
 * this run had to await every delivery before continuing as new, and one channel that kept
 * failing paused the checks for as long as its retries took. The outbox workflows outlive the
 * monitor's runs, deliver a channel's events in order and retry on their own.
 */
export async function lagMonitorWorkflow(input: LagMonitorInput): Promise<void> {
  let settings = input.settings;
  const checksPerRun = input.checksPerRun ?? defaultChecksPerRun;
  const states: Record<SourceName, SourceAlertState> = {
    legacy: input.states?.legacy ?? initialAlertState,
    cloud: input.states?.cloud ?? initialAlertState,
  };
  let quarantines: QuarantineIncidents = input.quarantines ?? {};
  let checksHealth: CheckHealthState = input.health?.checks ?? initialCheckHealth;
  const sourceHealth: Record<SourceName, CheckHealthState> = {
    legacy: input.health?.sources.legacy ?? initialCheckHealth,
    cloud: input.health?.sources.cloud ?? initialCheckHealth,
  };
  const slotLosses: Record<SourceName, SlotLossState> = {
    legacy: input.slotLosses?.legacy ?? initialSlotLossState,
    cloud: input.slotLosses?.cloud ?? initialSlotLossState,
  };
  let lastReadings: readonly SourceReading[] = [];
  let checks = 0;
  const deliveries = new Set<Promise<void>>();
  const health = (): MonitorHealth => ({ checks: checksHealth, sources: { ...sourceHealth } });

  setHandler(monitorSettingsSignal, (next) => {
    settings = next;
  });
  setHandler(monitorStateQuery, () => ({
    settings,
    sources: { ...states },
    lastReadings,
    checks,
    quarantines: Object.fromEntries(Object.entries(quarantines).map(([room, incident]) => [room, incident.incidentKey])),
    health: health(),
    slotLosses: { ...slotLosses },
  }));

  const record = async (event: AlertEvent, at: string) => {
    try {
      await recordAlertEvent({ event, at });
    } catch {
      // The page still goes out; the activity's failure is in this workflow's history.
    }
  };

  const raise = async (event: AlertEvent, at: string) => {
    if (!patched(alertOutboxPatch)) {
      await record(event, at);
      for (const channelName of settings.channelNames) {
        const delivery: Promise<void> = deliverAlert({ channelName, event, at })
          .catch(() => undefined) // every failed attempt is already in alert_deliveries and the log
          .finally(() => deliveries.delete(delivery));
        deliveries.add(delivery);
      }
      return;
    }
    const enqueue = async () => {
      if (settings.channelNames.length === 0) return;
      try {
        await enqueueAlert({ monitorWorkflowId: workflowInfo().workflowId, channelNames: settings.channelNames, item: { id: `${event.incidentKey}/${event.kind}`, event, at } });
      } catch {
        // Temporal itself refused five times; the failure is in this workflow's history.
      }
    };
    // A failing check most likely means the unified database is down: page first, record after.
    if (event.monitor?.check === 'checks-failing') {
      await enqueue();
      await record(event, at);
    } else {
      await record(event, at);
      await enqueue();
    }
  };

  while (checks < checksPerRun && !workflowInfo().continueAsNewSuggested) {
    const startedAt = new Date().toISOString(); // workflow time: replays see the same value
    let readings = noReadings;
    let failure: string | null = null;
    try {
      readings = await checkSources({ staleAfterSeconds: settings.staleAfterSeconds, validForSeconds: settings.validForSeconds });
    } catch (error) {
      // Freshness rows age out meanwhile and the booking view stops selling; the monitor-health machine pages.
      failure = failureMessage(error);
    }
    lastReadings = readings.sources;
    const at = new Date().toISOString();

    if (patched(monitorHealthPatch)) {
      const judged = evaluateCheckHealth({ kind: 'checks' }, checksHealth, failure === null ? { ok: true } : { ok: false, error: failure, startedAt }, settings.thresholds, at);
      checksHealth = judged.state;
      for (const event of judged.events) await raise(event, at);
      // A source is judged only when the check itself worked: otherwise nothing is known of it.
      if (failure === null) {
        for (const source of sourceNames) {
          const sourceError = readings.sources.find((candidate) => candidate.source === source)?.sourceError ?? null;
          const outcome = sourceError === null ? { ok: true as const } : { ok: false as const, error: sourceError, startedAt };
          const judgedSource = evaluateCheckHealth({ kind: 'source', source }, sourceHealth[source], outcome, settings.thresholds, at);
          sourceHealth[source] = judgedSource.state;
          for (const event of judgedSource.events) await raise(event, at);
        }
      }
    }

    const grace: CatchupGrace | undefined = patched(catchupGracePatch)
      ? { graceSeconds: settings.catchupGraceSeconds ?? 0, trendWindowSeconds: settings.checkIntervalSeconds * 2 + 10 }
      : undefined;
    // Only once the check worked: a failed check says nothing of the connectors.
    const connectorCatchup = grace !== undefined && readings !== noReadings && patched(connectorCatchupPatch);
    for (const source of sourceNames) {
      const reading = readings.sources.find((candidate) => candidate.source === source);
      const catchingUpSeconds = connectorCatchup ? (reading?.catchingUpSeconds ?? null) : null;
      const catchup = catchingUpSeconds === null ? null : { connectedSecondsAgo: catchingUpSeconds };
      const { state, events } = evaluateLag(source, states[source], reading?.appliedLagSeconds ?? null, settings.thresholds, at, grace, catchup);
      states[source] = state;
      for (const event of events) await raise(event, at);
      if (connectorCatchup) {
        const judged = evaluateSlotLoss(source, slotLosses[source], reading?.slotLoss ?? null);
        slotLosses[source] = judged.state;
        for (const event of judged.events) await raise(event, at);
      }
    }
    if (readings !== noReadings) {
      const judged = evaluateQuarantines(quarantines, readings.quarantinedRooms);
      quarantines = judged.open;
      for (const event of judged.events) await raise(event, at);
    }
    checks += 1;
    await sleep(settings.checkIntervalSeconds * 1000);
  }
  // Only deliveries this run made the way earlier releases did (before the alert-outbox patch);
  // none otherwise: the outboxes outlive this run.
  await Promise.all(deliveries);
  const carried = slotLosses.legacy.lostAt === null && slotLosses.cloud.lostAt === null ? {} : { slotLosses };
  await continueAsNew<typeof lagMonitorWorkflow>({ settings, states, quarantines, health: health(), ...carried, ...(input.checksPerRun === undefined ? {} : { checksPerRun }) });
}
