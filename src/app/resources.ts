import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import type { AppConfig } from '../config/env.js';
import { describeSource, type SourceDescriptor } from '../cdc/source-descriptor.js';
import { createPool } from '../db/connect.js';
import { resolvePipelineUrls, type PipelineUrls } from '../db/pipeline-credentials.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { SourceName } from '../domain/room.js';
import { busyWorkflowRetryInterceptor, type RetryObserver } from '../temporal/client-retry.js';
import { temporalWorkerModule } from '../workers/runtime.js';

/**
 * The process's shared connections, made on first use and closed together: one pool
 * per database, one Temporal client connection, one worker connection. Every database
 * connection of the pipeline uses the pipeline's credentials (src/db/pipeline-credentials.ts:
 * its own least-privileged roles where the configured URL names a superuser or an owner);
 * only `partnerPool` uses the configured URL, for the demo's writes into the sources.
 */
export class Resources {
  private unifiedDb: Kysely<UnifiedDatabase> | null = null;
  private readonly sourcePools = new Map<SourceName, Promise<pg.Pool>>();
  private readonly partnerPools = new Map<SourceName, pg.Pool>();
  private pipeline: Promise<PipelineUrls> | null = null;
  private clientConnection: Connection | null = null;
  private temporalClient: Client | null = null;
  private nativeConnection: NativeConnection | null = null;

  constructor(
    readonly config: AppConfig,
    /** Told about every retried Temporal call (a busy workflow, an unreachable server). */
    private readonly onRetry?: RetryObserver,
  ) {}

  /** Which role each database is used as, decided once per process (a failed look-up is tried again next time). */
  pipelineUrls(): Promise<PipelineUrls> {
    this.pipeline ??= resolvePipelineUrls(this.config).catch((error: unknown) => {
      this.pipeline = null;
      throw error;
    });
    return this.pipeline;
  }

  /** The unified database as the pipeline's role; the pool is made on the first query. */
  unified(): Kysely<UnifiedDatabase> {
    this.unifiedDb ??= new Kysely<UnifiedDatabase>({
      dialect: new PostgresDialect({
        pool: async () => createPool((await this.pipelineUrls()).unified.url, { maxConnections: 20, applicationName: 'room-sync unified' }),
      }),
    });
    return this.unifiedDb;
  }

  /** A source as the connector's role: slot reads, heartbeats, the snapshot, lookups. */
  sourcePool(source: SourceName): Promise<pg.Pool> {
    let pool = this.sourcePools.get(source);
    if (!pool) {
      pool = this.pipelineUrls().then((urls) => createPool(urls[source].url, { maxConnections: 4, applicationName: `room-sync ${source}` }));
      pool.catch(() => this.sourcePools.delete(source));
      this.sourcePools.set(source, pool);
    }
    return pool;
  }

  /** The source as the connector sees it: its replication connections use the connector's role too. */
  async sourceDescriptor(source: SourceName): Promise<SourceDescriptor> {
    return describeSource(source, (await this.pipelineUrls())[source].url);
  }

  /** A source as the configured URL: the demo's seed and partner traffic write there, as the partners' own applications do. */
  partnerPool(source: SourceName): pg.Pool {
    let pool = this.partnerPools.get(source);
    if (!pool) {
      const url = source === 'legacy' ? this.config.LEGACY_DATABASE_URL : this.config.CLOUD_DATABASE_URL;
      pool = createPool(url, { maxConnections: 4, applicationName: `room-sync ${source} demo` });
      this.partnerPools.set(source, pool);
    }
    return pool;
  }

  async client(): Promise<Client> {
    if (!this.temporalClient) {
      this.clientConnection = await Connection.connect({
        address: this.config.TEMPORAL_ADDRESS,
        ...this.config.temporalConnection,
        interceptors: [busyWorkflowRetryInterceptor(this.onRetry)],
      });
      this.temporalClient = new Client({ connection: this.clientConnection, namespace: this.config.TEMPORAL_NAMESPACE });
    }
    return this.temporalClient;
  }

  async workerConnection(): Promise<NativeConnection> {
    if (!this.nativeConnection) {
      const { NativeConnection } = await temporalWorkerModule(this.config.LOG_LEVEL);
      this.nativeConnection = await NativeConnection.connect({ address: this.config.TEMPORAL_ADDRESS, ...this.config.temporalConnection });
    }
    return this.nativeConnection;
  }

  async close(): Promise<void> {
    await this.unifiedDb?.destroy();
    for (const pool of this.sourcePools.values()) await pool.then((made) => made.end(), () => undefined);
    for (const pool of this.partnerPools.values()) await pool.end();
    await this.clientConnection?.close();
    await this.nativeConnection?.close();
  }
}
