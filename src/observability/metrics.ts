import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The figures ops' dashboards read; one registry per process. */
export function createMetrics() {
  const registry = new Registry();
  const sourceLabel = ['source'] as const;
  return {
    registry,
    changesApplied: new Counter({ name: 'room_sync_changes_applied_total', help: 'Source changes folded into unified rows', registers: [registry] }),
    changesIgnored: new Counter({ name: 'room_sync_changes_ignored_total', help: 'Duplicate or older changes ignored by position', registers: [registry] }),
    conflicts: new Counter({ name: 'room_sync_conflicts_total', help: 'Conflict audit rows written', registers: [registry] }),
    applyBatches: new Counter({ name: 'room_sync_apply_batches_total', help: 'Apply activity transactions', registers: [registry] }),
    applyLatency: new Histogram({
      name: 'room_sync_apply_seconds',
      help: 'Duration of the apply activity (one transaction)',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    lagSeconds: new Gauge({ name: 'room_sync_source_lag_seconds', help: 'Now minus the commit time of the newest acked change', labelNames: sourceLabel, registers: [registry] }),
    backlogBytes: new Gauge({ name: 'room_sync_source_backlog_bytes', help: 'Source WAL position minus the acked position', labelNames: sourceLabel, registers: [registry] }),
    slotRetainedBytes: new Gauge({ name: 'room_sync_slot_retained_wal_bytes', help: 'WAL the replication slot keeps on the source', labelNames: sourceLabel, registers: [registry] }),
    connected: new Gauge({ name: 'room_sync_source_connected', help: '1 when the connector streams from the slot', labelNames: sourceLabel, registers: [registry] }),
    unappliedChanges: new Gauge({
      name: 'room_sync_unapplied_changes',
      help: 'Changes Temporal accepted from the source that no apply has taken yet',
      labelNames: sourceLabel,
      registers: [registry],
    }),
    oldestUnappliedAgeSeconds: new Gauge({
      name: 'room_sync_oldest_unapplied_change_age_seconds',
      help: 'Now minus the source commit time of the oldest change not yet applied (0 when none waits)',
      labelNames: sourceLabel,
      registers: [registry],
    }),
    quarantinedRooms: new Gauge({ name: 'room_sync_quarantined_rooms', help: 'Rooms whose apply kept failing, not sold until retried', registers: [registry] }),
    roomsQuarantinedTotal: new Counter({ name: 'room_sync_rooms_quarantined_total', help: 'Quarantines raised by room workflows on this worker', registers: [registry] }),
    deadLetters: new Gauge({ name: 'room_sync_dead_letters', help: 'Rows in the dead-letter table', labelNames: sourceLabel, registers: [registry] }),
    openAlerts: new Gauge({
      name: 'room_sync_open_alerts',
      help: 'Alerts open (warning or paging), by source (`monitor` for the monitor\'s own checks) and severity',
      labelNames: [...sourceLabel, 'severity'],
      registers: [registry],
    }),
    /** Set by every check that read everything; Prometheus pages when it stops moving (deploy/prometheus). */
    monitorLastCheck: new Gauge({
      name: 'room_sync_monitor_last_check_timestamp_seconds',
      help: 'Unix time of the lag monitor\'s last successful check (0 before the first in this process)',
      registers: [registry],
    }),
    monitorCheckFailures: new Counter({
      name: 'room_sync_monitor_check_failures_total',
      help: 'Attempts of the lag monitor\'s check that failed (unified database unreadable)',
      registers: [registry],
    }),
    sourceReadable: new Gauge({
      name: 'room_sync_source_readable',
      help: '1 when the monitor could read the source (its slot), 0 when that read failed',
      labelNames: sourceLabel,
      registers: [registry],
    }),
    reconcileDriftedRooms: new Gauge({
      name: 'room_sync_reconcile_drifted_rooms',
      help: 'Rooms the last scheduled reconcile found differing from the live source (drifted, missing or extra; confirmed)',
      labelNames: sourceLabel,
      registers: [registry],
    }),
    alertDeliveries: new Counter({
      name: 'room_sync_alert_deliveries_total',
      help: 'Attempts to notify an alert channel, by channel and outcome (ok, failed)',
      labelNames: ['channel', 'outcome'],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
