import type { Client } from '@temporalio/client';
import { roomWorkflowId, type RoomKey } from '../domain/room.js';
import type { SourceChange } from '../mapping/change.js';
import type { Logger } from '../observability/logger.js';
import { sourceChangesSignal } from '../workflows/messages.js';
import { roomWorkflow } from '../workflows/room.js';
import type { RoomSignal } from './row-event.js';

export class SignallerStoppedError extends Error {
  override readonly name = 'SignallerStoppedError';
}

export interface RoomSignallerOptions {
  readonly client: Client;
  readonly taskQueue: string;
  readonly maxInFlight: number;
  readonly log: Logger;
}

/**
 * Delivers room changes with signalWithStart, at most `maxInFlight` at once. Signals
 * may overtake each other; the merge restores log order. A failed delivery is retried
 * until it is accepted or the signaller stops, so nothing is acknowledged unsent.
 */
export class RoomSignaller {
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly options: RoomSignallerOptions) {}

  /** Waits for capacity, then starts delivery; the returned promises settle when Temporal has accepted each signal. */
  async send(signals: readonly RoomSignal[]): Promise<Promise<void>[]> {
    const byRoom = new Map<string, { room: RoomKey; changes: SourceChange[] }>();
    for (const { room, change } of signals) {
      const id = roomWorkflowId(room);
      const entry = byRoom.get(id) ?? { room, changes: [] };
      entry.changes.push(change);
      byRoom.set(id, entry);
    }
    const deliveries: Promise<void>[] = [];
    for (const [workflowId, { room, changes }] of byRoom) {
      await this.acquire();
      deliveries.push(this.deliver(workflowId, room, changes).finally(() => this.release()));
    }
    return deliveries;
  }

  stop(): void {
    this.stopped = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  get pending(): number {
    return this.inFlight;
  }

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.options.maxInFlight) {
      if (this.stopped) throw new SignallerStoppedError('signaller stopped');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.stopped) throw new SignallerStoppedError('signaller stopped');
    this.inFlight += 1;
  }

  private release(): void {
    this.inFlight -= 1;
    this.waiters.shift()?.();
  }

  private async deliver(workflowId: string, room: RoomKey, changes: SourceChange[]): Promise<void> {
    let delayMs = 200;
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new SignallerStoppedError(`stopped before ${workflowId} accepted its signal`);
      try {
        await this.options.client.workflow.signalWithStart(roomWorkflow, {
          workflowId,
          taskQueue: this.options.taskQueue,
          args: [{ room }],
          signal: sourceChangesSignal,
          signalArgs: [changes],
        });
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0) {
          this.options.log.warn('signal not accepted, retrying', { workflowId, attempt, error });
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 5_000);
      }
    }
  }
}
