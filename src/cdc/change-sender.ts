import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { SourceChange } from '../mapping/change.js';
import type { Logger } from '../observability/logger.js';
import { roomWorkflowId } from '../routing/room-routing.js';
import { deliverChangesUpdate, roomWorkflowTaskTimeout, sourceChangesSignal } from '../workflows/messages.js';
import { roomWorkflow } from '../workflows/room.js';
import { roomSearchAttributes } from '../workflows/search-attributes.js';
import type { RoomSignal } from './row-event.js';
import type { UnappliedLedger } from './unapplied-ledger.js';

export class SenderStoppedError extends Error {
  override readonly name = 'SenderStoppedError';
}

/** Hands one batch to the workflow that serializes its rooms; rejects when it was not accepted. */
export type ChangeDelivery = (workflowId: string, changes: readonly SourceChange[]) => Promise<void>;

/**
 * Signal-with-start to the room's workflow: it starts on its room's first change and takes
 * every later one. The changes are recorded as waiting first, so freshness counts them
 * from the moment Temporal may accept them until an apply takes them.
 */
export type DeliveryMode = 'signal' | 'update';

export function temporalDelivery(client: Client, taskQueue: string, ledger: UnappliedLedger, mode: DeliveryMode = 'signal'): ChangeDelivery {
  return async (workflowId, changes) => {
    const first = changes[0];
    if (!first) return;
    await ledger.record(changes);
    const room = { hotelCode: first.hotelCode, roomCode: first.roomCode };
    const start = {
      workflowId,
      taskQueue,
      args: [{ room }] as [{ room: typeof room }],
      typedSearchAttributes: roomSearchAttributes(room),
      workflowTaskTimeout: roomWorkflowTaskTimeout,
    };
    if (mode === 'update') {
      // The alternative measured in docs/capacity.md: confirmed once the workflow took it.
      await client.workflow.executeUpdateWithStart(deliverChangesUpdate, {
        args: [[...changes]],
        startWorkflowOperation: new WithStartWorkflowOperation(roomWorkflow, { ...start, workflowIdConflictPolicy: 'USE_EXISTING' }),
      });
      return;
    }
    await client.workflow.signalWithStart(roomWorkflow, { ...start, signal: sourceChangesSignal, signalArgs: [[...changes]] });
  };
}

export interface ChangeSenderOptions {
  readonly deliver: ChangeDelivery;
  /** Deliveries in flight at once, over all workflows. */
  readonly maxInFlight: number;
  /** Most changes in one delivery. */
  readonly maxBatchChanges: number;
  /** Changes held unsent (queued or in flight) before `send` waits. */
  readonly maxQueuedChanges: number;
  /**
   * Least time between two deliveries to one workflow. A quiet workflow gets its change at
   * once; a busy one collects what arrives within the interval into one delivery, which
   * bounds deliveries and workflow tasks per second per room, whatever the change rate.
   */
  readonly minSendIntervalMs?: number;
  /** First pause before a failed delivery is retried; doubles up to 5 s. */
  readonly retryDelayMs?: number;
  /** Bounds the workflow tasks this sender keeps waiting in Temporal; none when absent. */
  readonly admission?: Admission;
  readonly log: Logger;
}

/**
 * A room whose delivery Temporal took is a workflow task waiting for a worker until an apply
 * takes its changes. Past saturation an unbounded sender would queue a task for every room:
 * tasks then wait longer than the sticky queue's timeout and rooms replay whole histories,
 * more work exactly when there is no CPU for it. Held here instead, changes ride together in
 * the room's next delivery, the stream backs up and the lag pages.
 */
export interface Admission {
  /** Rooms (workflows) with a delivery taken and not yet applied, at most. */
  readonly maxAwaitingApply: number;
  /** The workflows that still have changes waiting for an apply (the unapplied ledger). */
  readonly awaitingApply: () => Promise<ReadonlySet<string>>;
  /** Least time between two reads of the ledger while deliveries are held. */
  readonly recheckMs?: number;
}

const slowDeliveryMs = 1_000;
const heldLogIntervalMs = 30_000;

/** Changes for one workflow that travel in one delivery; settles when the workflow has taken it. */
class Batch {
  readonly changes: SourceChange[] = [];
  readonly accepted: Promise<void>;
  resolve: () => void = () => undefined;
  reject: (error: unknown) => void = () => undefined;

  constructor() {
    this.accepted = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Whoever tracks the batch sees the failure; an untracked one must not crash the process.
    this.accepted.catch(() => undefined);
  }
}

interface Outbox {
  /** Waiting batches in order; only the last one takes more changes. */
  readonly batches: Batch[];
  sending: boolean;
  /** No delivery to this workflow before this time (ms since epoch). */
  nextSendAt: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Delivers changes to their rooms' workflows. Each workflow has at most one
 * delivery in flight and gets at most one per `minSendIntervalMs`; changes for it that
 * arrive meanwhile wait and travel together in its next delivery, so under load
 * deliveries grow instead of multiplying. Deliveries to different workflows may overtake
 * each other; the merge restores log order. A failed delivery is retried until it is
 * taken or the sender stops, so nothing is acknowledged undelivered.
 */
export class ChangeSender {
  private readonly outboxes = new Map<string, Outbox>();
  /** Workflows with a batch waiting and nothing in flight, oldest first. */
  private readonly ready: string[] = [];
  private inFlight = 0;
  private held = 0;
  private readonly spaceWaiters: (() => void)[] = [];
  private stopped = false;
  /**
   * Admitted workflows: the sequence number of each one's last taken delivery, Infinity while
   * one is in flight (its ledger rows may not be committed yet, so a read cannot release it).
   */
  private readonly admitted = new Map<string, number>();
  /** Ready workflows waiting for room under the admission bound, oldest first. */
  private readonly heldForAdmission: string[] = [];
  private takenSequence = 0;
  private admissionRead: Promise<void> | null = null;
  private admissionTimer: NodeJS.Timeout | null = null;
  private lastAdmissionReadAt = 0;
  private lastHeldLogAt = 0;

  constructor(private readonly options: ChangeSenderOptions) {}

  /**
   * Queues the changes, waiting first while too many are held unsent. The returned
   * promises settle when the workflows have taken the deliveries that carry them.
   */
  async send(changes: readonly RoomSignal[]): Promise<Promise<void>[]> {
    while (this.held >= this.options.maxQueuedChanges) {
      if (this.stopped) throw new SenderStoppedError('sender stopped');
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    if (this.stopped) throw new SenderStoppedError('sender stopped');
    const joined = new Set<Promise<void>>();
    for (const { room, change } of changes) {
      const workflowId = roomWorkflowId(room);
      joined.add(this.enqueue(workflowId, change));
    }
    this.dispatch();
    return [...joined];
  }

  stop(): void {
    this.stopped = true;
    const error = new SenderStoppedError('sender stopped before the workflow took the changes');
    for (const outbox of this.outboxes.values()) {
      if (outbox.timer) clearTimeout(outbox.timer);
      outbox.timer = null;
      // The batch in flight (if any) settles on its own; the waiting ones never will.
      for (const batch of outbox.batches.splice(outbox.sending ? 1 : 0)) batch.reject(error);
    }
    this.ready.length = 0;
    this.heldForAdmission.length = 0;
    if (this.admissionTimer) clearTimeout(this.admissionTimer);
    this.admissionTimer = null;
    for (const wake of this.spaceWaiters.splice(0)) wake();
  }

  /** Changes queued or in flight. */
  get pending(): number {
    return this.held;
  }

  /** Workflows counted against the admission bound: delivered (or being delivered) and not known to be applied. */
  get awaitingApply(): number {
    return this.admitted.size;
  }

  private enqueue(workflowId: string, change: SourceChange): Promise<void> {
    let outbox = this.outboxes.get(workflowId);
    if (!outbox) {
      outbox = { batches: [], sending: false, nextSendAt: 0, timer: null };
      this.outboxes.set(workflowId, outbox);
    }
    let batch = outbox.batches.at(-1);
    // The first batch is the one in flight while sending; it takes nothing more.
    const open = batch !== undefined && !(outbox.sending && outbox.batches.length === 1) && batch.changes.length < this.options.maxBatchChanges;
    if (!batch || !open) {
      batch = new Batch();
      outbox.batches.push(batch);
    }
    if (!outbox.sending && outbox.batches.length === 1 && batch.changes.length === 0) this.schedule(workflowId, outbox);
    batch.changes.push(change);
    this.held += 1;
    return batch.accepted;
  }

  /** Ready now, or once the workflow's interval is over. */
  private schedule(workflowId: string, outbox: Outbox): void {
    const waitMs = outbox.nextSendAt - Date.now();
    if (waitMs <= 0) {
      this.ready.push(workflowId);
      return;
    }
    outbox.timer ??= setTimeout(() => {
      outbox.timer = null;
      if (this.stopped) return;
      this.ready.push(workflowId);
      this.dispatch();
    }, waitMs);
  }

  private dispatch(): void {
    while (this.inFlight < this.options.maxInFlight && !this.stopped) {
      const workflowId = this.nextReady();
      if (workflowId === undefined) break;
      const outbox = this.outboxes.get(workflowId);
      const batch = outbox?.batches[0];
      if (!outbox || !batch || outbox.sending) continue;
      outbox.sending = true;
      outbox.nextSendAt = Date.now() + (this.options.minSendIntervalMs ?? 0);
      this.inFlight += 1;
      if (this.options.admission) this.admitted.set(workflowId, Number.POSITIVE_INFINITY);
      void this.deliver(workflowId, batch).then(
        () => {
          if (this.options.admission) this.admitted.set(workflowId, ++this.takenSequence);
          batch.resolve();
          this.finished(workflowId, outbox, batch);
        },
        (error: unknown) => {
          batch.reject(error);
          this.finished(workflowId, outbox, batch);
        },
      );
    }
  }

  private finished(workflowId: string, outbox: Outbox, batch: Batch): void {
    this.inFlight -= 1;
    this.held -= batch.changes.length;
    outbox.sending = false;
    if (outbox.batches[0] === batch) outbox.batches.shift();
    if (outbox.batches.length > 0 && !this.stopped) this.schedule(workflowId, outbox);
    // An idle workflow's outbox goes once its interval is over; until then it remembers when it may send.
    else if (outbox.batches.length === 0 && outbox.nextSendAt <= Date.now()) this.outboxes.delete(workflowId);
    while (this.held < this.options.maxQueuedChanges && this.spaceWaiters.length > 0) this.spaceWaiters.shift()?.();
    this.dispatch();
  }

  /**
   * The next workflow to deliver to: those held for admission first, in order, once the bound
   * has room; a workflow already admitted is never held, since its delivery adds no waiting task.
   */
  private nextReady(): string | undefined {
    const admission = this.options.admission;
    if (!admission) return this.ready.shift();
    for (;;) {
      const hasRoom = this.admitted.size < admission.maxAwaitingApply;
      if (hasRoom && this.heldForAdmission.length > 0) return this.heldForAdmission.shift();
      const workflowId = this.ready.shift();
      if (workflowId === undefined || hasRoom || this.admitted.has(workflowId)) {
        if (this.heldForAdmission.length > 0) this.readAdmission();
        return workflowId;
      }
      this.heldForAdmission.push(workflowId);
    }
  }

  /** Releases the admitted workflows the ledger shows applied, then dispatches again; at most one read per `recheckMs`. */
  private readAdmission(): void {
    const admission = this.options.admission;
    if (!admission || this.admissionRead || this.admissionTimer || this.stopped) return;
    const waitMs = this.lastAdmissionReadAt + (admission.recheckMs ?? 200) - Date.now();
    if (waitMs > 0) {
      this.admissionTimer = setTimeout(() => {
        this.admissionTimer = null;
        this.readAdmission();
      }, waitMs);
      return;
    }
    this.lastAdmissionReadAt = Date.now();
    // Deliveries taken after the read began may have ledger rows it did not see: they stay admitted.
    const takenBefore = this.takenSequence;
    this.admissionRead = admission
      .awaitingApply()
      .then(
        (waiting) => {
          for (const [workflowId, taken] of this.admitted) if (taken <= takenBefore && !waiting.has(workflowId)) this.admitted.delete(workflowId);
          // Reaching the bound is routine (applied rooms are only released by a read); staying at it is not.
          if (this.admitted.size >= admission.maxAwaitingApply) this.logHeld(admission);
        },
        (error: unknown) => this.options.log.warn('could not read which rooms await their apply; deliveries stay held', { error }),
      )
      .finally(() => {
        this.admissionRead = null;
        this.dispatch();
      });
  }

  private logHeld(admission: Admission): void {
    if (Date.now() - this.lastHeldLogAt < heldLogIntervalMs) return;
    this.lastHeldLogAt = Date.now();
    this.options.log.info('deliveries held: rooms already wait for the workers (Temporal is behind; the lag shows it)', {
      awaitingApply: this.admitted.size,
      limit: admission.maxAwaitingApply,
      changesHeld: this.held,
    });
  }

  private async deliver(workflowId: string, batch: Batch): Promise<void> {
    let delayMs = this.options.retryDelayMs ?? 200;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new SenderStoppedError(`stopped before ${workflowId} took its changes`);
      try {
        await this.options.deliver(workflowId, batch.changes);
        const tookMs = performance.now() - started;
        // Acknowledgement waits on this delivery, so a slow one shows as source lag: say where.
        if (tookMs > slowDeliveryMs) this.options.log.warn('delivery taken slowly', { workflowId, changes: batch.changes.length, attempt, tookMs: Math.round(tookMs) });
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0) {
          this.options.log.warn('delivery not taken, retrying', { workflowId, changes: batch.changes.length, attempt, error });
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 5_000);
      }
    }
  }
}
