import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { SourceDescriptor } from '../cdc/source-descriptor.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { SourceName } from '../domain/room.js';
import { alertSubject, buildPayload, channelWants, describeEvent, sendToChannel, type AlertChannel } from '../monitoring/channels.js';
import type { AlertEvent } from '../monitoring/lag-state.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { readUnapplied } from '../db/unapplied-repository.js';
import { lsnToBigInt, positionLsn } from '../domain/position.js';
import { listQuarantinedRooms } from '../db/quarantine-repository.js';
import type { QuarantinedRoomReading } from '../monitoring/quarantine-alerts.js';
import type { SlotLossReading } from '../monitoring/slot-loss-alerts.js';
import { scrubString } from '../observability/redact.js';
import type { alertOutboxWorkflow } from '../workflows/alert-outbox.js';
import { alertOutboxSignal, alertOutboxWorkflowId, type AlertOutboxItem } from '../workflows/messages.js';
import { syncRoleKey } from '../workflows/search-attributes.js';

export interface SourceReading {
  readonly source: SourceName;
  /** now − commit time of the newest acked change (heartbeats included); null before the first ack. */
  readonly lagSeconds: number | null;
  /** Changes Temporal took from this source that no apply has taken yet, and the age of the oldest (by source commit). */
  readonly unappliedChanges: number;
  readonly oldestUnappliedAgeSeconds: number | null;
  /** What alerting judges: the larger of the acked lag and the oldest unapplied change's age. */
  readonly appliedLagSeconds: number | null;
  readonly lastChangeAgeSeconds: number | null;
  readonly backlogBytes: number | null;
  readonly slotRetainedBytes: number | null;
  readonly connected: boolean | null;
  /** Why the source (its slot) could not be read, scrubbed of secrets; null when it was. */
  readonly sourceError: string | null;
  /**
   * Seconds since the connector connected, while the source is catching up: the connector reading
   * (its slot active, or its snapshot running), and what was in the WAL when it connected not yet
   * all acked (an idle source: its first heartbeat since has not returned) or not yet all applied.
   * Null otherwise; absent in readings of earlier releases.
   */
  readonly catchingUpSeconds?: number | null;
  /** The connector's last lost slot and its re-snapshot; null when it never lost one. */
  readonly slotLoss?: SlotLossReading | null;
}

export interface MonitorReadings {
  readonly sources: readonly SourceReading[];
  readonly quarantinedRooms: readonly QuarantinedRoomReading[];
}

export interface CheckSourcesInput {
  readonly staleAfterSeconds: number;
  /** How long the freshness written now may be trusted without another check. */
  readonly validForSeconds: number;
}

export interface MonitoredSource {
  readonly descriptor: SourceDescriptor;
  readonly pool: pg.Pool;
}

export interface MonitoringDependencies {
  readonly db: Kysely<UnifiedDatabase>;
  readonly sources: readonly MonitoredSource[];
  readonly channels: readonly AlertChannel[];
  readonly log: Logger;
  readonly metrics?: Metrics;
}

interface SlotReading {
  backlog: string | null;
  retained: string | null;
  active: boolean | null;
}

/** A source that does not answer (a dropped network, not a refused connection) must not hold up the whole check. */
const slotReadTimeoutMs = 4_000;

async function connectWithin(pool: pg.Pool, timeoutMs: number): Promise<pg.PoolClient> {
  const connecting = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([connecting, timedOut]);
  } catch (error) {
    // A connection that arrives after all goes back to the pool.
    connecting.then((late) => late.release(), () => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function readSlot(pool: pg.Pool, slotName: string, ackedLsn: string | null): Promise<SlotReading> {
  const client = await connectWithin(pool, slotReadTimeoutMs);
  try {
    await client.query(`SET statement_timeout = '3s'`);
    const { rows } = await client.query<SlotReading>(
      `SELECT (pg_current_wal_lsn() - $2::pg_lsn)::bigint::text AS backlog,
              (pg_current_wal_lsn() - s.restart_lsn)::bigint::text AS retained,
              s.active
         FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
      [slotName, ackedLsn ?? '0/0'],
    );
    return rows[0] ?? { backlog: null, retained: null, active: null };
  } finally {
    client.release();
  }
}

const toNumber = (value: string | null | undefined): number | null => (value === null || value === undefined ? null : Number(value));

const messageOf = (error: unknown): string => scrubString(error instanceof Error ? error.message : String(error)).slice(0, 500);

export interface EnqueueAlertInput {
  /** The monitor's workflow id: each channel's outbox workflow lives beside it. */
  readonly monitorWorkflowId: string;
  readonly channelNames: readonly string[];
  readonly item: AlertOutboxItem;
}

export function createMonitoringActivities({ db, sources, channels, log, metrics }: MonitoringDependencies) {
  /** Reads every source's cursor and slot, writes the freshness the booking view trusts, updates the gauges. */
  const checkSources = async (input: CheckSourcesInput): Promise<MonitorReadings> => {
    const cursors = await db
      .selectFrom('cdc_cursors')
      .select([
        'source',
        'last_acked_lsn',
        'last_acked_commit_time',
        'last_change_commit_time',
        sql<number | null>`extract(epoch FROM now() - last_acked_commit_time)::float8`.as('lag_seconds'),
        sql<number | null>`extract(epoch FROM now() - last_change_commit_time)::float8`.as('change_age_seconds'),
        'snapshot_completed_at',
        'slot_lost_at',
        'slot_lost_reason',
        'connected_wal_lsn',
        sql<number | null>`greatest(extract(epoch FROM now() - connected_at)::float8, 0)`.as('connected_seconds'),
        // The WAL position current at the connection not acked yet (an idle source: its next heartbeat has not returned).
        sql<boolean>`coalesce(last_acked_lsn IS NULL OR last_acked_lsn::pg_lsn < connected_wal_lsn::pg_lsn, false)`.as('behind_connection'),
      ])
      .execute();
    const unapplied = await readUnapplied(db);
    const quarantinedRooms = await listQuarantinedRooms(db);
    const deadLetters = await db.selectFrom('dead_letters').select(['source', sql<string>`count(*)`.as('count')]).groupBy('source').execute();
    const readings: SourceReading[] = [];
    for (const { descriptor, pool } of sources) {
      const cursor = cursors.find((row) => row.source === descriptor.source);
      let slot: SlotReading = { backlog: null, retained: null, active: null };
      let sourceError: string | null = null;
      try {
        slot = await readSlot(pool, descriptor.slotName, cursor?.last_acked_lsn ?? null);
      } catch (error) {
        sourceError = messageOf(error);
        log.warn('could not read a source for the lag monitor', { source: descriptor.source, slot: descriptor.slotName, error: sourceError });
      }
      const waiting = unapplied.get(descriptor.source);
      const lagSeconds = cursor?.lag_seconds ?? null;
      const oldestUnappliedAgeSeconds = waiting?.oldestAgeSeconds ?? null;
      // A record of a connection while neither the stream (slot active) nor a snapshot runs is a connector that is gone.
      const readingNow = slot.active === true || (cursor !== undefined && cursor.snapshot_completed_at === null);
      // Catching up until everything up to the WAL position current at the connection is acked and applied.
      const target = cursor?.connected_wal_lsn ?? null;
      const unappliedBefore = target !== null && waiting?.oldestPosition != null && lsnToBigInt(positionLsn(waiting.oldestPosition)) <= lsnToBigInt(target);
      const catchingUp = readingNow && target !== null && cursor?.connected_seconds != null && (cursor.behind_connection || unappliedBefore);
      const lostAt = cursor?.slot_lost_at ?? null;
      const completedAt = cursor?.snapshot_completed_at ?? null;
      const reading: SourceReading = {
        source: descriptor.source,
        lagSeconds,
        unappliedChanges: waiting?.count ?? 0,
        oldestUnappliedAgeSeconds,
        appliedLagSeconds: lagSeconds === null ? oldestUnappliedAgeSeconds : Math.max(lagSeconds, oldestUnappliedAgeSeconds ?? 0),
        lastChangeAgeSeconds: cursor?.change_age_seconds ?? null,
        backlogBytes: toNumber(slot.backlog),
        slotRetainedBytes: toNumber(slot.retained),
        connected: sourceError === null ? slot.active === true : null,
        sourceError,
        catchingUpSeconds: catchingUp ? (cursor?.connected_seconds ?? null) : null,
        slotLoss:
          lostAt === null || cursor?.slot_lost_reason == null
            ? null
            : {
                lostAt: lostAt.toISOString(),
                reason: cursor.slot_lost_reason,
                resnapshotCompletedAt: completedAt !== null && completedAt.getTime() >= lostAt.getTime() ? completedAt.toISOString() : null,
              },
      };
      readings.push(reading);
      const values = {
        last_acked_commit_time: cursor?.last_acked_commit_time ?? null,
        last_change_commit_time: cursor?.last_change_commit_time ?? null,
        lag_seconds: reading.lagSeconds,
        backlog_bytes: reading.backlogBytes,
        slot_retained_bytes: reading.slotRetainedBytes,
        connected: reading.connected,
        unapplied_changes: reading.unappliedChanges,
        oldest_unapplied_commit_time: waiting?.oldestCommitTime ?? null,
        stale_after_seconds: input.staleAfterSeconds,
        checked_at: sql<Date>`now()`,
        valid_until: sql<Date>`now() + make_interval(secs => ${input.validForSeconds})`,
      };
      await db
        .insertInto('source_freshness')
        .values({ source: descriptor.source, ...values })
        .onConflict((conflict) => conflict.column('source').doUpdateSet(values))
        .execute();
      if (metrics) {
        const labels = { source: descriptor.source };
        if (reading.lagSeconds !== null) metrics.lagSeconds.set(labels, reading.lagSeconds);
        metrics.unappliedChanges.set(labels, reading.unappliedChanges);
        metrics.oldestUnappliedAgeSeconds.set(labels, reading.oldestUnappliedAgeSeconds ?? 0);
        if (reading.backlogBytes !== null) metrics.backlogBytes.set(labels, reading.backlogBytes);
        if (reading.slotRetainedBytes !== null) metrics.slotRetainedBytes.set(labels, reading.slotRetainedBytes);
        metrics.connected.set(labels, reading.connected ? 1 : 0);
        metrics.sourceReadable.set(labels, sourceError === null ? 1 : 0);
        metrics.deadLetters.set(labels, Number(deadLetters.find((row) => row.source === descriptor.source)?.count ?? 0));
      }
    }
    metrics?.quarantinedRooms.set(quarantinedRooms.length);
    return { sources: readings, quarantinedRooms };
  };

  const recordAlertEvent = async (event: AlertEvent, at: string): Promise<void> => {
    const message = describeEvent(event);
    if (event.kind === 'resolve') {
      await db
        .updateTable('alerts')
        .set({ resolved_at: at, resolved_lag_seconds: event.lagSeconds })
        .where('incident_key', '=', event.incidentKey)
        .where('resolved_at', 'is', null)
        .execute();
      if (event.slotLost) log.info('re-snapshot after the slot loss completed', { source: event.source, incident: event.incidentKey, ...event.slotLost });
      else if (event.monitor) log.info('monitor alert resolved', { check: event.monitor.check, source: event.source, incident: event.incidentKey });
      else if (event.reconcile) log.info('reconcile alert resolved', { source: event.source, incident: event.incidentKey });
      else if (event.quarantined) log.info('quarantine alert resolved', { room: event.quarantined.room, incident: event.incidentKey });
      else log.info('lag alert resolved', { source: event.source, incident: event.incidentKey, lagSeconds: event.lagSeconds });
    } else {
      const severity = event.kind === 'page' ? 'page' : 'warning';
      await db
        .insertInto('alerts')
        .values({
          incident_key: event.incidentKey,
          source: event.source,
          severity,
          lag_seconds: event.lagSeconds,
          threshold_seconds: event.thresholdSeconds,
          opened_at: at,
          paged_at: event.kind === 'page' ? at : null,
          message,
          subject: alertSubject(event),
          room: event.quarantined?.room ?? null,
        })
        .onConflict((conflict) =>
          event.kind === 'page'
            ? conflict
                .column('incident_key')
                .doUpdateSet({ severity: 'page', paged_at: at, lag_seconds: event.lagSeconds, threshold_seconds: event.thresholdSeconds, message })
            : conflict.column('incident_key').doNothing(),
        )
        .execute();
      const line = { source: event.source, incident: event.incidentKey, lagSeconds: event.lagSeconds, thresholdSeconds: event.thresholdSeconds };
      if (event.slotLost) {
        log.warn('replication slot lost: a fresh slot and snapshot were taken (a warning, not a page)', { ...line, ...event.slotLost });
      } else if (event.monitor) {
        const fields = { check: event.monitor.check, source: event.source, incident: event.incidentKey, failingSeconds: event.lagSeconds, error: event.monitor.error };
        if (event.kind === 'page') log.error('PAGE: lag monitor checks failing past the paging threshold', fields);
        else log.warn('lag monitor checks failing', fields);
      } else if (event.reconcile) log.warn('reconcile found rooms differing from the source', { ...line, rooms: event.reconcile.rooms, sample: event.reconcile.sample });
      else if (event.quarantined) log.error('PAGE: room quarantined', { ...line, room: event.quarantined.room, reason: event.quarantined.reason });
      else if (event.kind === 'page') log.error('PAGE: CDC lag over the paging threshold', line);
      else if (event.kind === 'warn' && event.connectedSecondsAgo !== undefined) log.warn('CDC lag over the warning threshold while the connector catches up: a warning for now', { ...line, connectedSecondsAgo: event.connectedSecondsAgo });
      else if (event.kind === 'warn' && event.catchingUp) log.warn('CDC lag over the paging threshold but falling fast (catching up): a warning for now', line);
      else log.warn('CDC lag over the warning threshold', line);
    }
    if (metrics) {
      const open = await db
        .selectFrom('alerts')
        .select(['source', 'severity', sql<string>`count(*)`.as('count')])
        .where('resolved_at', 'is', null)
        .groupBy(['source', 'severity'])
        .execute();
      metrics.openAlerts.reset();
      for (const row of open) metrics.openAlerts.set({ source: row.source ?? 'monitor', severity: row.severity }, Number(row.count));
    }
  };

  return {
    /** Reads every source's cursor and slot, writes the freshness the booking view trusts, updates the gauges. */
    checkSources: async (input: CheckSourcesInput): Promise<MonitorReadings> => {
      try {
        const readings = await checkSources(input);
        metrics?.monitorLastCheck.setToCurrentTime();
        return readings;
      } catch (error) {
        // The workflow judges the failure (a reading of "unknown" that pages in time); the
        // message it and Temporal's history keep has no secret in it.
        metrics?.monitorCheckFailures.inc();
        const message = messageOf(error);
        log.warn('lag monitor check failed', { error: message, attempt: Context.current().info.attempt });
        throw ApplicationFailure.create({ message, type: 'MonitorCheckFailed' });
      }
    },

    /** The alerts row for an incident (opened, paged, resolved) and one structured log line. Idempotent on retry. */
    recordAlertEvent: async ({ event, at }: { event: AlertEvent; at: string }): Promise<void> => {
      await recordAlertEvent(event, at);
    },

    /**
     * Hands one event to each channel's outbox workflow (signal-with-start): talks to Temporal
     * only, so it is quick while a channel or the unified database is down. The outbox delivers.
     */
    enqueueAlert: async ({ monitorWorkflowId, channelNames, item }: EnqueueAlertInput): Promise<void> => {
      const { client, info } = Context.current();
      for (const channelName of channelNames) {
        await client.workflow.signalWithStart<typeof alertOutboxWorkflow, [AlertOutboxItem]>('alertOutboxWorkflow', {
          workflowId: alertOutboxWorkflowId(monitorWorkflowId, channelName),
          taskQueue: info.taskQueue,
          args: [{ channelName }],
          signal: alertOutboxSignal,
          signalArgs: [item],
          typedSearchAttributes: [{ key: syncRoleKey, value: 'alert-outbox' }],
        });
      }
    },

    /** One channel, one event. Each failed attempt is recorded, then thrown for Temporal to retry with backoff. */
    deliverAlert: async ({ channelName, event, at }: { channelName: string; event: AlertEvent; at: string }): Promise<void> => {
      const channel = channels.find((candidate) => candidate.name === channelName);
      if (!channel) throw ApplicationFailure.nonRetryable(`alert channel ${channelName} is not configured on this worker`);
      if (!channelWants(channel, event)) return;
      // Paging comes first: recording the attempt is best effort and never keeps a page from going out.
      const record = async (ok: boolean, error: string | null) => {
        try {
          await db.insertInto('alert_deliveries').values({ incident_key: event.incidentKey, event: event.kind, channel: channel.name, ok, error }).execute();
        } catch (recordError) {
          log.warn('could not record an alert delivery', { channel: channel.name, error: recordError });
        }
      };
      try {
        await sendToChannel(channel, buildPayload(channel, event, at));
      } catch (error) {
        const message = messageOf(error);
        metrics?.alertDeliveries.inc({ channel: channel.name, outcome: 'failed' });
        log.warn('alert delivery failed; Temporal retries it', { channel: channel.name, event: event.kind, source: event.source, incident: event.incidentKey, error: message });
        await record(false, message);
        // The failure Temporal keeps in history carries the scrubbed message, never the channel's URL.
        throw ApplicationFailure.create({ message, type: 'AlertDeliveryFailed' });
      }
      metrics?.alertDeliveries.inc({ channel: channel.name, outcome: 'ok' });
      log.info('alert delivered', { channel: channel.name, event: event.kind, source: event.source, incident: event.incidentKey });
      await record(true, null);
    },
  };
}
