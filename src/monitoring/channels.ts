import type { AppConfig } from '../config/env.js';
import type { AlertEvent } from './lag-state.js';

/** Channels by name; URLs and keys stay in the worker's configuration, never in workflow history. */
export type AlertChannel =
  | { readonly name: string; readonly kind: 'webhook'; readonly url: string }
  | { readonly name: string; readonly kind: 'pagerduty'; readonly url: string; readonly routingKey: string };

export function channelsFromConfig(config: Pick<AppConfig, 'ALERT_WEBHOOK_URLS' | 'PAGERDUTY_EVENTS_URL' | 'PAGERDUTY_ROUTING_KEY'>): AlertChannel[] {
  const channels: AlertChannel[] = config.ALERT_WEBHOOK_URLS.map((url, index) => ({ name: `webhook-${index + 1}`, kind: 'webhook', url }));
  if (config.PAGERDUTY_EVENTS_URL !== undefined && config.PAGERDUTY_ROUTING_KEY !== undefined) {
    channels.push({ name: 'pagerduty', kind: 'pagerduty', url: config.PAGERDUTY_EVENTS_URL, routingKey: config.PAGERDUTY_ROUTING_KEY });
  }
  return channels;
}

/** Pagers hear about pages and their resolves; generic webhooks hear everything. */
export function channelWants(channel: Pick<AlertChannel, 'kind'>, event: AlertEvent): boolean {
  if (channel.kind === 'webhook') return true;
  return event.kind === 'page' || (event.kind === 'resolve' && event.wasPaging);
}

function describeMonitorEvent(event: AlertEvent & { monitor: NonNullable<AlertEvent['monitor']> }): string {
  const what =
    event.monitor.check === 'checks-failing'
      ? 'the lag monitor cannot check the pipeline (unified database unreadable)'
      : `the lag monitor cannot read the ${event.source ?? 'source'} database (its replication slot)`;
  switch (event.kind) {
    case 'warn':
      return `room-sync: ${what} for ${event.lagSeconds.toFixed(0)} s: ${event.monitor.error}`;
    case 'page':
      return (
        `room-sync: ${what} for ${event.lagSeconds.toFixed(0)} s, past the paging threshold (${event.thresholdSeconds} s); ` +
        `lag is unknown and the booking view stops selling once freshness expires: ${event.monitor.error}`
      );
    case 'resolve':
      return event.monitor.check === 'checks-failing' ? 'room-sync: the lag monitor checks the pipeline again' : `room-sync: the lag monitor reads the ${event.source ?? 'source'} database again`;
  }
}

function describeSlotLoss(event: AlertEvent & { slotLost: NonNullable<AlertEvent['slotLost']> }): string {
  const { reason, lostAt, resnapshotCompletedAt } = event.slotLost;
  const how = reason === 'invalidated' ? 'was invalidated (WAL retained past max_slot_wal_keep_size)' : 'was gone (dropped)';
  if (event.kind === 'resolve') {
    return `room-sync: the ${event.source ?? 'source'} re-snapshot after the slot loss of ${lostAt} completed${resnapshotCompletedAt === null ? '' : ` at ${resnapshotCompletedAt}`}`;
  }
  return (
    `room-sync: the ${event.source ?? 'source'} replication slot ${how} at ${lostAt}: the connector took a fresh slot and snapshot ` +
    `(changes made while no slot recorded arrive through the snapshot; rooms deleted meanwhile are marked as left)` +
    (resnapshotCompletedAt === null ? '; the re-snapshot is running' : `; the re-snapshot completed at ${resnapshotCompletedAt}`)
  );
}

export function describeEvent(event: AlertEvent): string {
  if (event.monitor) return describeMonitorEvent({ ...event, monitor: event.monitor });
  if (event.slotLost) return describeSlotLoss({ ...event, slotLost: event.slotLost });
  if (event.reconcile) {
    const { rooms, sample } = event.reconcile;
    return event.kind === 'resolve'
      ? `room-sync: reconcile finds the unified store matching ${event.source ?? 'the source'} again`
      : `room-sync: reconcile found ${rooms} room(s) whose stored ${event.source ?? 'source'} values differ from the live source (${sample.join(', ')}${rooms > sample.length ? ', …' : ''}); ` +
          `room-sync reconcile --source ${event.source ?? 'both'} --repair delivers the source's rows`;
  }
  if (event.quarantined) {
    const { room, reason } = event.quarantined;
    return event.kind === 'resolve'
      ? `room-sync: room ${room} left quarantine (its dead letters were applied)`
      : `room-sync: room ${room} quarantined, not sold: its apply keeps failing (${reason}); fix, then room-sync dead-letters retry --room ${room}`;
  }
  const lag = `${event.lagSeconds.toFixed(1)} s`;
  switch (event.kind) {
    case 'warn':
      if (event.connectedSecondsAgo !== undefined) {
        return (
          `room-sync: ${event.source} CDC lag ${lag} passed the warning threshold (${event.thresholdSeconds} s), but its connector is catching up ` +
          `(connected ${event.connectedSecondsAgo.toFixed(0)} s ago, not yet at the WAL position current then): a warning for now, ` +
          `a page if it has not caught up within the grace or its lag keeps growing`
        );
      }
      return event.catchingUp
        ? `room-sync: ${event.source} CDC lag ${lag} is over the paging threshold but falling fast (catching up after downtime): a warning for now, a page if it stops falling`
        : `room-sync: ${event.source} CDC lag ${lag} passed the warning threshold (${event.thresholdSeconds} s)`;
    case 'page':
      return `room-sync: ${event.source} CDC lag ${lag} passed the paging threshold (${event.thresholdSeconds} s); the booking view stops selling what ${event.source} owns once it is stale`;
    case 'resolve':
      return `room-sync: ${event.source} CDC lag recovered (${lag})`;
  }
}

/** Per source, so a pager folds every trigger of one source's incident together; the monitor's own incidents apart. */
export function pagerDedupKey(event: AlertEvent): string {
  if (event.monitor) return event.monitor.check === 'checks-failing' ? 'room-sync/monitor/checks-failing' : `room-sync/monitor/source-unreadable/${event.source ?? 'unknown'}`;
  if (event.quarantined) return `room-sync/quarantine/${event.quarantined.room}`;
  if (event.slotLost) return `room-sync/slot/${event.source ?? 'unknown'}`;
  if (event.reconcile) return `room-sync/reconcile/${event.source ?? 'unknown'}`;
  return `room-sync/lag/${event.source ?? 'unknown'}`;
}

/** What an alert is about, as the alerts table's `subject` says it. */
export function alertSubject(event: AlertEvent): 'lag' | 'quarantine' | 'monitor' | 'slot' | 'reconcile' {
  return event.monitor ? 'monitor' : event.quarantined ? 'quarantine' : event.slotLost ? 'slot' : event.reconcile ? 'reconcile' : 'lag';
}

export function buildPayload(channel: AlertChannel, event: AlertEvent, at: string): unknown {
  if (channel.kind === 'pagerduty') {
    const base = { routing_key: channel.routingKey, dedup_key: pagerDedupKey(event) };
    if (event.kind === 'resolve') return { ...base, event_action: 'resolve' };
    return {
      ...base,
      event_action: 'trigger',
      payload: {
        summary: describeEvent(event),
        source: 'room-sync',
        severity: event.kind === 'page' ? 'critical' : 'warning',
        timestamp: at,
        component: event.monitor ? (event.source ? `${event.source}-database` : 'lag-monitor') : event.quarantined ? `room ${event.quarantined.room}` : `${event.source}-cdc`,
        group: 'room-sync',
        class: event.monitor ? `monitor-${event.monitor.check}` : event.quarantined ? 'room-quarantine' : event.reconcile ? 'reconcile-drift' : 'replication-lag',
        custom_details: event.monitor
          ? { check: event.monitor.check, source: event.source, failing_seconds: event.lagSeconds, error: event.monitor.error, incident: event.incidentKey }
          : event.reconcile
            ? { source: event.source, rooms: event.reconcile.rooms, sample: event.reconcile.sample, incident: event.incidentKey }
            : event.quarantined
            ? { room: event.quarantined.room, source: event.source, reason: event.quarantined.reason, incident: event.incidentKey }
            : { source: event.source, lag_seconds: event.lagSeconds, threshold_seconds: event.thresholdSeconds, incident: event.incidentKey },
      },
    };
  }
  if (event.monitor) {
    return {
      type: `room-sync.monitor.${event.kind}`,
      check: event.monitor.check,
      source: event.source,
      incident: event.incidentKey,
      failing_seconds: event.lagSeconds,
      threshold_seconds: event.thresholdSeconds,
      error: event.monitor.error,
      at,
      message: describeEvent(event),
    };
  }
  if (event.slotLost) {
    return {
      type: `room-sync.slot.${event.kind}`,
      source: event.source,
      reason: event.slotLost.reason,
      lost_at: event.slotLost.lostAt,
      resnapshot_completed_at: event.slotLost.resnapshotCompletedAt,
      incident: event.incidentKey,
      at,
      message: describeEvent(event),
    };
  }
  if (event.reconcile) {
    return {
      type: `room-sync.reconcile.${event.kind}`,
      source: event.source,
      rooms: event.reconcile.rooms,
      sample: event.reconcile.sample,
      incident: event.incidentKey,
      at,
      message: describeEvent(event),
    };
  }
  if (event.quarantined) {
    return {
      type: `room-sync.quarantine.${event.kind}`,
      source: event.source,
      room: event.quarantined.room,
      reason: event.quarantined.reason,
      incident: event.incidentKey,
      at,
      message: describeEvent(event),
    };
  }
  return {
    type: `room-sync.lag.${event.kind}`,
    source: event.source,
    incident: event.incidentKey,
    lag_seconds: event.lagSeconds,
    threshold_seconds: event.thresholdSeconds,
    ...(event.kind === 'warn' && event.catchingUp ? { catching_up: true } : {}),
    ...(event.kind === 'warn' && event.connectedSecondsAgo !== undefined ? { connected_seconds_ago: event.connectedSecondsAgo } : {}),
    at,
    message: describeEvent(event),
  };
}

export class ChannelDeliveryError extends Error {
  override readonly name = 'ChannelDeliveryError';
}

export async function sendToChannel(channel: AlertChannel, payload: unknown, timeoutMs = 10_000): Promise<void> {
  let response: Response;
  try {
    response = await fetch(channel.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ChannelDeliveryError(`${channel.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!response.ok) {
    const body = await response.text().catch(() => '');
    throw new ChannelDeliveryError(`${channel.name}: HTTP ${response.status} ${body.slice(0, 200)}`);
  }
}
