import { lsnToBigInt } from '../domain/position.js';

interface TrackedTransaction {
  readonly commitLsn: string;
  readonly commitTime: string;
  endLsn: string | null;
  pending: number;
  /** Row changes other than heartbeats: they move "time since the last real change". */
  realChanges: number;
}

export interface DurablePosition {
  /** Commit end LSN of the newest transaction whose every signal Temporal has accepted, and every one before it. */
  readonly lsn: string;
  readonly commitTime: string;
  /** Commit time of the newest such transaction that carried a real change; null when only heartbeats passed. */
  readonly lastChangeCommitTime: string | null;
  readonly realChanges: number;
}

/**
 * Source transactions in log order with their undelivered signals. The durable
 * position only moves past a transaction when it and all earlier ones are delivered:
 * that is what makes acknowledging to the slot at-least-once.
 */
export class TransactionTracker {
  private readonly open: TrackedTransaction[] = [];
  private durable: DurablePosition | null = null;
  private realChangesSinceTaken = 0;
  private lastChangeCommitTime: string | null = null;
  private failure: unknown = null;

  begin(commitLsn: string, commitTime: string): TrackedTransaction {
    const transaction: TrackedTransaction = { commitLsn, commitTime, endLsn: null, pending: 0, realChanges: 0 };
    this.open.push(transaction);
    return transaction;
  }

  track(transaction: TrackedTransaction, delivery: Promise<void>): void {
    transaction.pending += 1;
    delivery.then(
      () => {
        transaction.pending -= 1;
        this.advance();
      },
      (error: unknown) => {
        // Never skip past an undelivered signal: the stream restarts from the last durable position.
        this.failure ??= error;
      },
    );
  }

  noteRealChange(transaction: TrackedTransaction): void {
    transaction.realChanges += 1;
  }

  commit(transaction: TrackedTransaction, endLsn: string): void {
    transaction.endLsn = endLsn;
    this.advance();
  }

  get failed(): unknown {
    return this.failure;
  }

  get undelivered(): number {
    return this.open.reduce((sum, transaction) => sum + transaction.pending, 0);
  }

  /** The newest durable position, with the real changes counted since the previous call. */
  takeDurable(): DurablePosition | null {
    if (this.durable === null) return null;
    const taken = { ...this.durable, realChanges: this.realChangesSinceTaken };
    this.realChangesSinceTaken = 0;
    return taken;
  }

  peekDurableLsn(): string | null {
    return this.durable?.lsn ?? null;
  }

  private advance(): void {
    if (this.failure !== null) return;
    while (this.open.length > 0) {
      const first = this.open[0];
      if (!first || first.endLsn === null || first.pending > 0) break;
      this.open.shift();
      if (first.realChanges > 0) {
        this.lastChangeCommitTime = first.commitTime;
        this.realChangesSinceTaken += first.realChanges;
      }
      if (this.durable === null || lsnToBigInt(first.endLsn) > lsnToBigInt(this.durable.lsn)) {
        this.durable = {
          lsn: first.endLsn,
          commitTime: first.commitTime,
          lastChangeCommitTime: this.lastChangeCommitTime,
          realChanges: 0,
        };
      }
    }
  }
}
