import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type pg from 'pg';
import type { SourceName } from '../../src/domain/room.js';
import { projectRoot } from '../../src/setup/source-schemas.js';
import { ensureTemporalCli, startTemporalDevServer, type TemporalServerHandle } from '../../src/setup/temporal.js';
import { ChildService } from '../children.js';
import { benchDataDir, databaseUrl, namespace } from '../config.js';
import { waitUntil } from '../our-pipeline.js';
import { freePort } from '../ports.js';
import { floorSlotName, floorTaskQueue } from './types.js';

/** The floor's Temporal store and logs, apart from ours. */
export const floorDataDir = join(benchDataDir, 'floor');

/**
 * The design's floor as a bench target: a Temporal dev server of its own started exactly as
 * ours is (startTemporalDevServer: the same flags and pragmas), the floor worker, and one
 * sender per source, each a child process so its CPU and memory can be read.
 */
export class FloorTarget {
  private server: TemporalServerHandle | null = null;
  private worker: ChildService | null = null;
  private readonly senders = new Map<SourceName, ChildService>();
  private connection: Connection | null = null;
  private address = '';
  private stopping = false;
  private restarted = false;

  constructor(
    private readonly onSpawn: (pid: number) => void,
    private readonly log: (message: string) => void,
  ) {}

  get temporalPid(): number | null {
    return this.server?.pid ?? null;
  }

  get workerPid(): number | null {
    return this.worker?.pid ?? null;
  }

  get senderPids(): number[] {
    return [...this.senders.values()].map((sender) => sender.pid);
  }

  private env(): Record<string, string> {
    return { FLOOR_TEMPORAL_ADDRESS: this.address, FLOOR_UNIFIED_URL: databaseUrl('unified') };
  }

  async start(admin: pg.Pool): Promise<void> {
    const cliPath = await ensureTemporalCli(projectRoot, this.log);
    for (const suffix of ['', '-wal', '-shm']) await rm(join(floorDataDir, `temporal.sqlite${suffix}`), { force: true });
    const [port, uiPort] = [await freePort(), await freePort()];
    this.address = `127.0.0.1:${port}`;
    this.server = await startTemporalDevServer({ cliPath, dataDir: floorDataDir, address: this.address, uiPort, namespace, log: this.log });
    if (this.server.pid !== undefined) this.onSpawn(this.server.pid);
    const connection = await Connection.connect({ address: this.address });
    this.connection = connection;

    const worker = ChildService.start('floor worker', ['bench/floor/worker.ts'], this.env(), join(floorDataDir, 'worker.log'));
    this.worker = worker;
    this.onSpawn(worker.pid);
    await waitUntil(
      'the floor worker to poll its task queue',
      180_000,
      async () => ((await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: floorTaskQueue } })).pollers?.length ?? 0) > 0,
      () => (worker.running ? null : `floor worker exited (see ${worker.logPath})`),
    );
    await this.startSenders(admin, false);
  }

  /** `resume`: keep each slot and what it holds; otherwise start from the current WAL position. */
  async startSenders(admin: pg.Pool, resume: boolean): Promise<void> {
    for (const source of ['legacy', 'cloud'] as const) this.startSender(source, resume);
    await waitUntil(
      'both floor senders streaming',
      60_000,
      async () => {
        const { rows } = await admin.query<{ active: number }>('SELECT count(*)::int AS active FROM pg_replication_slots WHERE slot_name = ANY($1) AND active', [
          [floorSlotName('legacy'), floorSlotName('cloud')],
        ]);
        return rows[0]?.active === 2;
      },
      () => {
        const dead = [...this.senders.values()].find((sender) => !sender.running);
        return dead ? `${dead.name} exited (see ${dead.logPath})` : null;
      },
    );
  }

  /**
   * A sender that exits on its own (its replication connection was cut) is started again on
   * its slot, which kept every change it had not acknowledged: like our connectors, it resumes.
   */
  private startSender(source: SourceName, resume: boolean): void {
    const env = { ...this.env(), FLOOR_SOURCE: source, FLOOR_SOURCE_URL: databaseUrl(source), FLOOR_RESUME_SLOT: resume ? '1' : '0' };
    const sender = ChildService.start(`floor sender ${source}`, ['bench/floor/sender.ts'], env, join(floorDataDir, `sender-${source}.log`));
    this.senders.set(source, sender);
    this.onSpawn(sender.pid);
    void sender.exited.then((code) => {
      if (this.stopping || this.senders.get(source) !== sender) return;
      this.log(`floor sender ${source} exited (${code ?? 'signal'}; see ${sender.logPath}); starting it again on its slot`);
      setTimeout(() => {
        if (this.stopping || this.senders.get(source) !== sender) return;
        this.startSender(source, true);
        this.restarted = true;
      }, 1_000);
    });
  }

  /** Whether a sender had to be started again since the last call (its pids changed: track them again). */
  takeRestarted(): boolean {
    const restarted = this.restarted;
    this.restarted = false;
    return restarted;
  }

  async stopSenders(): Promise<void> {
    this.stopping = true;
    for (const sender of this.senders.values()) await sender.stop();
    this.senders.clear();
    this.stopping = false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const sender of this.senders.values()) await sender.stop();
    this.senders.clear();
    await this.worker?.stop();
    this.worker = null;
    await this.connection?.close();
    this.connection = null;
    await this.server?.stop();
    this.server = null;
    this.stopping = false;
  }
}
