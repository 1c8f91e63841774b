import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { ensureCursor, markConnected, markDisconnected, markSlotLost, markSnapshotCompleted, markSnapshotStarted, recordAcked } from '../db/cursor-repository.js';
import { recordDeadLetter } from '../db/dead-letter-repository.js';
import { listRoomsPresentIn } from '../db/room-repository.js';
import type { UnifiedDatabase } from '../db/schema.js';
import { bigIntToLsn, lsnToBigInt, makePosition } from '../domain/position.js';
import { roomKeyText } from '../domain/room.js';
import type { Logger } from '../observability/logger.js';
import { CloudDecoder } from './cloud-decoder.js';
import { LegacyDecoder } from './legacy-decoder.js';
import { ChangeSender, temporalDelivery, type DeliveryMode } from './change-sender.js';
import { UnappliedLedger } from './unapplied-ledger.js';
import { roomChange, type RowEvent, type SourceDecoder } from './row-event.js';
import { diffRelationColumns, type RelationColumnShape } from './relation-changes.js';
import { createSlotWithSnapshot, dropSlot, readSlot, type SlotState } from './slot.js';
import { readSnapshot } from './snapshot.js';
import { heartbeatTable, type SourceDescriptor } from './source-descriptor.js';
import { TransactionTracker } from './transaction-tracker.js';

export interface ConnectorOptions {
  readonly descriptor: SourceDescriptor;
  readonly unifiedDb: Kysely<UnifiedDatabase>;
  readonly sourcePool: pg.Pool;
  readonly temporal: Client;
  readonly taskQueue: string;
  readonly maxInFlight: number;
  readonly maxBatchChanges: number;
  readonly maxQueuedChanges: number;
  /** Rooms with a delivery taken by Temporal and not yet applied, at most (see Admission); 0: no bound. */
  readonly maxRoomsAwaitingApply: number;
  readonly minSendIntervalMs: number;
  /** Signals (the default) or updates; see docs/capacity.md. */
  readonly deliveryMode?: DeliveryMode;
  readonly heartbeatIntervalMs: number;
  readonly ackIntervalMs?: number;
  readonly log: Logger;
}

export type ConnectorPhase = 'idle' | 'snapshot' | 'streaming' | 'reconnecting' | 'stopped';

export interface ConnectorStatus {
  readonly source: string;
  readonly phase: ConnectorPhase;
  readonly connected: boolean;
  readonly snapshotRows: number;
  /** Rooms a re-snapshot found gone from the source and marked as left (see markRoomsLeft). */
  readonly roomsMarkedLeft: number;
  readonly changesSignalled: number;
  readonly deadLetters: number;
  readonly lastAckedLsn: string | null;
  readonly lastError: string | null;
}

/** Left-the-source changes handed to the sender at a time, so its queue bound still holds. */
const leftChangesPerSend = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Confirms to the slot exactly `lsn` (a commit's end LSN, or the snapshot's consistent point).
 * pg-logical-replication's acknowledge(x) reports x + 1 as flushed (the physical-replication
 * "last byte + 1" convention), but a commit end LSN already points past its record. Reporting
 * end + 1 left confirmed_flush_lsn one byte too far, and on restart Postgres skips every
 * transaction whose commit record starts before confirmed_flush_lsn: a transaction whose
 * commit record directly followed the acknowledged one (common with concurrent writers) was
 * silently lost. So hand the library lsn - 1; its + 1 gives back exactly lsn.
 * Shown by test/integration/restart.test.ts ("a transaction committed right after an acknowledged one ...").
 */
function acknowledgeExactly(service: LogicalReplicationService, lsn: string): Promise<boolean> {
  const value = lsnToBigInt(lsn);
  return service.acknowledge(value === 0n ? lsn : bigIntToLsn(value - 1n));
}

function microsToIso(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString();
}

/**
 * One source's change stream into the room workflows: a consistent snapshot when the
 * slot is new, then pgoutput streaming. A position is acknowledged (cursor row first,
 * then the slot) only once the workflows took every change up to it, so a restart
 * resumes from the slot with nothing lost; replays are ignored by the merge.
 */
export class Connector {
  private readonly decoder: SourceDecoder;
  private readonly sender: ChangeSender;
  private readonly log: Logger;
  private phase: ConnectorPhase = 'idle';
  private connected = false;
  private stopping = false;
  private stopRequested: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.stopRequested = resolve));
  private loop: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastAckedLsn: string | null = null;
  private lastError: string | null = null;
  /** The source's WAL position when this connector connected: until it is acked, the connector is catching up. */
  private catchupTarget: string | null = null;
  private counts = { snapshotRows: 0, roomsMarkedLeft: 0, changesSignalled: 0, deadLetters: 0 };
  /** Each captured table's columns as the last relation message gave them, to log a partner's ALTER TABLE. */
  private readonly relationColumns = new Map<string, readonly RelationColumnShape[]>();

  constructor(private readonly options: ConnectorOptions) {
    this.log = options.log;
    const deadLetter = async (event: RowEvent, raw: Record<string, unknown>, reason: string) => {
      const rowKey = createHash('sha1').update(JSON.stringify(raw)).digest('hex');
      const fresh = await recordDeadLetter(options.unifiedDb, {
        source: event.source,
        tableName: event.table,
        position: event.position,
        commitTime: event.commitTime,
        rowKey,
        raw,
        reason,
      });
      if (fresh) {
        this.counts.deadLetters += 1;
        this.log.warn('row dead-lettered', { table: event.table, position: event.position, reason });
      }
    };
    this.decoder =
      options.descriptor.source === 'legacy'
        ? new LegacyDecoder(options.unifiedDb, deadLetter)
        : new CloudDecoder(options.unifiedDb, options.sourcePool, deadLetter);
    const ledger = new UnappliedLedger(options.unifiedDb);
    const source = options.descriptor.source;
    this.sender = new ChangeSender({
      deliver: temporalDelivery(options.temporal, options.taskQueue, ledger, options.deliveryMode),
      ...(options.maxRoomsAwaitingApply > 0
        ? { admission: { maxAwaitingApply: options.maxRoomsAwaitingApply, awaitingApply: () => ledger.workflowsAwaitingApply(source) } }
        : {}),
      maxInFlight: options.maxInFlight,
      maxBatchChanges: options.maxBatchChanges,
      maxQueuedChanges: options.maxQueuedChanges,
      minSendIntervalMs: options.minSendIntervalMs,
      log: options.log,
    });
  }

  status(): ConnectorStatus {
    return {
      source: this.options.descriptor.source,
      phase: this.phase,
      connected: this.connected,
      ...this.counts,
      lastAckedLsn: this.lastAckedLsn,
      lastError: this.lastError,
    };
  }

  /** Resolves once the snapshot (if one is due) is delivered and streaming has begun. */
  async start(): Promise<void> {
    const { descriptor, unifiedDb } = this.options;
    const cursor = await ensureCursor(unifiedDb, descriptor);
    await this.decoder.load();
    this.startHeartbeats();
    const slot = await this.snapshotUnlessSlotUsable(cursor.snapshot_completed_at !== null);
    if (slot !== null) this.lastAckedLsn = cursor.last_acked_lsn ?? slot.confirmedFlushLsn;
    this.loop = this.streamLoop();
  }

  /**
   * Takes a fresh slot and snapshot when the slot is missing (dropped), invalidated (past
   * max_slot_wal_keep_size) or its snapshot never completed; at start and whenever the
   * stream reconnects, so a running connector recovers by itself. Returns the slot when
   * it was usable as it was, null after a snapshot.
   */
  private async snapshotUnlessSlotUsable(snapshotCompleted: boolean): Promise<SlotState | null> {
    const { descriptor, sourcePool } = this.options;
    const slot = await readSlot(sourcePool, descriptor.slotName);
    if (slot.exists && !slot.invalidated && snapshotCompleted) return slot;
    if (slot.invalidated) {
      this.log.error('replication slot invalidated (WAL retained past max_slot_wal_keep_size): changes since were lost, taking a fresh slot and snapshot', {
        slot: descriptor.slotName,
      });
      await markSlotLost(this.options.unifiedDb, descriptor.source, 'invalidated');
      await dropSlot(sourcePool, descriptor.slotName);
    } else if (slot.exists) {
      this.log.warn('slot exists but its snapshot never completed: starting over', { slot: descriptor.slotName });
      await dropSlot(sourcePool, descriptor.slotName);
    } else if (snapshotCompleted) {
      this.log.error('replication slot is gone: changes since were lost, taking a fresh slot and snapshot', { slot: descriptor.slotName });
      await markSlotLost(this.options.unifiedDb, descriptor.source, 'dropped');
    }
    await this.snapshot();
    return null;
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loop ?? undefined;
    this.stopping = true;
    this.stopRequested();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.sender.stop();
    await this.loop;
    this.phase = 'stopped';
    await markDisconnected(this.options.unifiedDb, this.options.descriptor.source).catch((error: unknown) =>
      this.log.warn('could not record the disconnect in the cursor', { error }),
    );
  }

  /**
   * Connected and reading (a snapshot, or the stream): records the source's WAL position now, which
   * the connector has caught up with once it acks it (for an idle source, its next heartbeat).
   * The lag monitor warns instead of paging meanwhile. A reconnect before that keeps the first
   * position and time, so reconnecting does not stretch the monitor's grace.
   */
  private async markReading(): Promise<void> {
    const { descriptor, unifiedDb, sourcePool } = this.options;
    const unfinished =
      this.catchupTarget !== null && (this.lastAckedLsn === null || lsnToBigInt(this.lastAckedLsn) < lsnToBigInt(this.catchupTarget));
    if (unfinished) return;
    try {
      const { rows } = await sourcePool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      const lsn = rows[0]?.lsn;
      if (lsn === undefined) return;
      await markConnected(unifiedDb, descriptor.source, lsn);
      this.catchupTarget = lsn;
    } catch (error) {
      // Only the monitor's catch-up judgement misses it: it pages on the lag as it would without.
      this.log.warn('could not record the connection in the cursor', { error });
    }
  }

  /**
   * Heartbeats go into the source and come back through the slot like any change,
   * so an idle source still moves its cursor, while a broken pipeline shows as lag.
   */
  private startHeartbeats(): void {
    const { sourcePool, descriptor, heartbeatIntervalMs } = this.options;
    let failures = 0;
    const beat = async () => {
      try {
        await sourcePool.query(
          `INSERT INTO ${heartbeatTable} (source, beat_at, beats) VALUES ($1, now(), 1)
           ON CONFLICT (source) DO UPDATE SET beat_at = now(), beats = heartbeat.beats + 1`,
          [descriptor.slotName],
        );
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures === 1 || failures % 12 === 0) this.log.warn('heartbeat write failed', { failures, error });
      }
    };
    this.heartbeatTimer = setInterval(() => void beat(), heartbeatIntervalMs);
    void beat();
  }

  private async snapshot(): Promise<void> {
    const { descriptor, unifiedDb, sourcePool } = this.options;
    this.phase = 'snapshot';
    const exported = await createSlotWithSnapshot(descriptor.databaseUrl, descriptor.slotName);
    try {
      await markSnapshotStarted(unifiedDb, descriptor.source, exported.consistentPoint);
      await this.markReading();
      this.log.info('snapshot started', { slot: descriptor.slotName, consistentPoint: exported.consistentPoint });
      const position = makePosition(exported.consistentPoint, 0);
      const snapshotTime = new Date().toISOString();
      const tracker = new TransactionTracker();
      const transaction = tracker.begin(exported.consistentPoint, snapshotTime);
      const roomsInSource = new Set<string>();
      let rows = 0;
      let lastProgress = Date.now();
      for await (const { table, row } of readSnapshot(sourcePool, exported.snapshotName, descriptor.tables)) {
        const event: RowEvent = { source: descriptor.source, table, op: 'insert', row, old: null, position, commitTime: snapshotTime };
        await this.dispatch(tracker, transaction, event);
        const room = this.decoder.roomOf(table, row);
        if (room !== null) roomsInSource.add(roomKeyText(room));
        rows += 1;
        this.counts.snapshotRows += 1;
        if (Date.now() - lastProgress > 5_000) {
          lastProgress = Date.now();
          this.log.info('snapshot progress', { rows, undelivered: tracker.undelivered });
        }
      }
      const left = await this.markRoomsLeft(tracker, transaction, roomsInSource, position, snapshotTime);
      tracker.commit(transaction, exported.consistentPoint);
      while (tracker.peekDurableLsn() === null) {
        if (tracker.failed !== null) throw new Error('snapshot delivery failed', { cause: tracker.failed });
        await sleep(50);
      }
      await markSnapshotCompleted(unifiedDb, descriptor.source, exported.consistentPoint, snapshotTime, rows + left);
      this.lastAckedLsn = exported.consistentPoint;
      this.log.info('snapshot delivered', { rows, roomsMarkedLeft: left });
    } finally {
      await exported.release();
    }
  }

  /**
   * A snapshot only shows the rows that exist: a room deleted while no slot was recording
   * (the slot dropped or invalidated) would otherwise stay present in the unified store.
   * Every room the store holds as present in this source but absent from the snapshot gets
   * a "left the source" change at the snapshot's position, which is newer than anything
   * the previous slot delivered and is ignored when replayed.
   */
  private async markRoomsLeft(
    tracker: TransactionTracker,
    transaction: ReturnType<TransactionTracker['begin']>,
    roomsInSource: ReadonlySet<string>,
    position: string,
    snapshotTime: string,
  ): Promise<number> {
    const { descriptor, unifiedDb } = this.options;
    // The snapshot's own deliveries (at `position`) are no evidence of an earlier presence.
    const gone = (await listRoomsPresentIn(unifiedDb, descriptor.source, position)).filter((room) => !roomsInSource.has(roomKeyText(room)));
    if (gone.length === 0) return 0;
    const [roomTable = ''] = descriptor.tables.slice(-1);
    const event: RowEvent = { source: descriptor.source, table: roomTable, op: 'delete', row: null, old: null, position, commitTime: snapshotTime };
    for (let i = 0; i < gone.length; i += leftChangesPerSend) {
      const signals = gone.slice(i, i + leftChangesPerSend).map((room) => roomChange(event, room, null));
      for (const delivery of await this.sender.send(signals)) tracker.track(transaction, delivery);
      this.counts.changesSignalled += signals.length;
    }
    this.counts.roomsMarkedLeft += gone.length;
    this.log.warn('rooms absent from the snapshot marked as left the source (deleted while no slot recorded)', {
      rooms: gone.length,
      examples: gone.slice(0, 5).map(roomKeyText),
    });
    return gone.length;
  }

  private async dispatch(tracker: TransactionTracker, transaction: ReturnType<TransactionTracker['begin']>, event: RowEvent): Promise<void> {
    tracker.noteRealChange(transaction);
    const signals = await this.decoder.decode(event);
    if (signals.length === 0) return;
    for (const delivery of await this.sender.send(signals)) tracker.track(transaction, delivery);
    this.counts.changesSignalled += signals.length;
  }

  private async streamLoop(): Promise<void> {
    let backoffMs = 500;
    while (!this.stopping) {
      try {
        await this.streamOnce();
        backoffMs = 500;
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error);
        this.log.warn('replication stream interrupted, reconnecting', { error, inMs: backoffMs });
      }
      if (this.stopping) break;
      this.phase = 'reconnecting';
      await Promise.race([sleep(backoffMs), this.stopped]);
      backoffMs = Math.min(backoffMs * 2, 10_000);
    }
  }

  /** One replication session. A fresh service each time: resubscribing a used one can hang. */
  private async streamOnce(): Promise<void> {
    const { descriptor, unifiedDb, sourcePool, ackIntervalMs = 200 } = this.options;
    const cursor = await ensureCursor(unifiedDb, descriptor);
    const slot = (await this.snapshotUnlessSlotUsable(cursor.snapshot_completed_at !== null)) ?? (await readSlot(sourcePool, descriptor.slotName));
    if (slot.active) throw new Error(`replication slot ${descriptor.slotName} is in use by pid ${slot.activePid ?? '?'}`);
    this.lastAckedLsn ??= slot.confirmedFlushLsn;

    const tracker = new TransactionTracker();
    const service = new LogicalReplicationService(
      { connectionString: descriptor.databaseUrl, application_name: `room-sync ${descriptor.source} connector` },
      // Library defaults acknowledge on receipt (at-most-once); acknowledging is ours alone.
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [descriptor.publicationName] });

    let failure: unknown = null;
    let endSession: (reason: unknown) => void = () => undefined;
    const sessionEnded = new Promise<unknown>((resolve) => (endSession = resolve));
    const fail = (error: unknown) => {
      failure ??= error;
      endSession(error);
    };

    let transaction: ReturnType<TransactionTracker['begin']> | null = null;
    let commitLsn = '0/0';
    let ordinal = 0;
    service.on('data', async (_lsn: string, message: Pgoutput.Message) => {
      if (failure !== null) return; // nothing after a failed message may be acknowledged
      try {
        switch (message.tag) {
          case 'begin':
            commitLsn = message.commitLsn ?? '0/0';
            ordinal = 0;
            transaction = tracker.begin(commitLsn, microsToIso(message.commitTime.valueOf()));
            return;
          case 'commit':
            if (transaction) tracker.commit(transaction, message.commitEndLsn ?? commitLsn);
            transaction = null;
            return;
          case 'insert':
          case 'update':
          case 'delete': {
            if (!transaction) throw new Error(`${message.tag} outside a transaction`);
            ordinal += 1;
            const table = `${message.relation.schema}.${message.relation.name}`;
            if (table === heartbeatTable) return;
            const event: RowEvent = {
              source: descriptor.source,
              table,
              op: message.tag,
              row: message.tag === 'delete' ? null : message.new,
              old: message.tag === 'insert' ? null : (message.old ?? message.key),
              position: makePosition(commitLsn, ordinal),
              commitTime: transaction.commitTime,
            };
            await this.dispatch(tracker, transaction, event);
            return;
          }
          case 'relation':
            this.noteRelation(`${message.schema}.${message.name}`, message.columns);
            return;
          case 'truncate':
            if (!transaction) return;
            ordinal += 1;
            for (const relation of message.relations) {
              const table = `${relation.schema}.${relation.name}`;
              if (table === heartbeatTable) continue;
              await this.recordTruncate(table, makePosition(commitLsn, ordinal), transaction.commitTime);
            }
            return;
          default:
            return;
        }
      } catch (error) {
        fail(error);
      }
    });
    service.on('heartbeat', (_lsn: string, _timestamp: number, shouldRespond: boolean) => {
      // Answer keepalives with what is durable, never with what was merely received.
      if (shouldRespond && this.lastAckedLsn) void acknowledgeExactly(service, this.lastAckedLsn).catch(fail);
    });
    service.on('error', fail);
    service.on('start', () => {
      this.connected = true;
      this.phase = 'streaming';
      this.lastError = null;
      this.log.info('streaming', { slot: descriptor.slotName, from: this.lastAckedLsn });
      void this.markReading();
    });

    let flushing: Promise<void> | null = null;
    const flushOnce = async () => {
      if (failure !== null || tracker.failed !== null) return;
      try {
        const durable = tracker.takeDurable();
        if (durable === null || (durable.lsn === this.lastAckedLsn && durable.realChanges === 0)) return;
        await recordAcked(unifiedDb, descriptor.source, {
          lsn: durable.lsn,
          commitTime: durable.commitTime,
          lastChangeCommitTime: durable.lastChangeCommitTime,
          changes: durable.realChanges,
        });
        await acknowledgeExactly(service, durable.lsn);
        this.lastAckedLsn = durable.lsn;
      } catch (error) {
        fail(error);
      }
    };
    // One flush at a time: the cursor row and the slot must move in order.
    const flush = (): Promise<void> => {
      flushing ??= flushOnce().finally(() => {
        flushing = null;
      });
      return flushing;
    };
    const flushTimer = setInterval(() => {
      if (tracker.failed !== null) fail(tracker.failed);
      else void flush();
    }, ackIntervalMs);

    const subscription = service.subscribe(plugin, descriptor.slotName).then(
      () => new Error('replication stream ended'),
      (error: unknown) => error,
    );
    const reason = await Promise.race([sessionEnded, subscription, this.stopped.then(() => null)]);
    clearInterval(flushTimer);
    if (reason === null) {
      // A clean stop keeps what is durable: let a running flush finish, then flush the rest.
      // eslint-disable-next-line @typescript-eslint/await-thenable -- flush() reassigns `flushing` in a closure, which TS's narrowing cannot see (it thinks it is still null)
      await flushing;
      await flush();
    }
    this.connected = false;
    await Promise.race([service.destroy(), sleep(5_000)]);
    if (this.stopping) await this.awaitSlotReleased(5_000);
    // Deliveries still running belong to an abandoned session: let them finish before resuming (duplicates are harmless).
    const deadline = Date.now() + 10_000;
    while (this.sender.pending > 0 && Date.now() < deadline && !this.stopping) await sleep(50);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the session's failure as it was caught
    if (reason !== null && !this.stopping) throw reason;
  }

  /**
   * The walsender exits a moment after our connection closes; stop() waits for it, so a
   * connector started next (here or on another machine) finds the slot free at once.
   */
  private async awaitSlotReleased(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const slot = await readSlot(this.options.sourcePool, this.options.descriptor.slotName).catch(() => null);
      if (slot === null || !slot.active) return;
      await sleep(50);
    }
    this.log.warn('slot still active after stop', { slot: this.options.descriptor.slotName });
  }

  /**
   * A column added, dropped or retyped at the source only reaches us as a new relation message.
   * The mapping reads columns by name: rows keep flowing, and those that no longer map are
   * dead-lettered with the reason; this line says why they started to.
   */
  private noteRelation(table: string, columns: readonly RelationColumnShape[]): void {
    const shapes = columns.map(({ name, typeOid, typeMod }) => ({ name, typeOid, typeMod }));
    const previous = this.relationColumns.get(table);
    this.relationColumns.set(table, shapes);
    if (previous === undefined || table === heartbeatTable) return;
    const changes = diffRelationColumns(previous, shapes);
    if (changes) this.log.warn('source table columns changed', { table, ...changes });
  }

  private async recordTruncate(table: string, position: string, commitTime: string): Promise<void> {
    const fresh = await recordDeadLetter(this.options.unifiedDb, {
      source: this.options.descriptor.source,
      tableName: table,
      position,
      commitTime,
      rowKey: 'truncate',
      raw: { truncate: table },
      reason:
        `TRUNCATE of ${table} at the ${this.options.descriptor.source} source removed its rows without row changes: ` +
        `the unified rooms keep this source's last values. Reload the table at the source (its rows flow in as inserts); ` +
        `a room that is not reloaded keeps those values until its row is written again`,
    });
    if (!fresh) return;
    this.counts.deadLetters += 1;
    this.log.error('source table truncated', { table, position });
  }
}
