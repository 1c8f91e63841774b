import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { AppConfig } from '../config/env.js';
import { createPool, createUnifiedDb } from '../db/connect.js';
import type { UnifiedDatabase } from '../db/schema.js';
import type { SourceName } from '../domain/room.js';
import { busyWorkflowRetryInterceptor, type RetryObserver } from '../temporal/client-retry.js';

/**
 * The process's shared connections, made on first use and closed together: one pool
 * per database, one Temporal client connection, one worker connection.
 */
export class Resources {
  private unifiedPool: pg.Pool | null = null;
  private unifiedDb: Kysely<UnifiedDatabase> | null = null;
  private readonly sourcePools = new Map<SourceName, pg.Pool>();
  private clientConnection: Connection | null = null;
  private temporalClient: Client | null = null;
  private nativeConnection: NativeConnection | null = null;

  constructor(
    readonly config: AppConfig,
    /** Told about every retried Temporal call (a busy workflow, an unreachable server). */
    private readonly onRetry?: RetryObserver,
  ) {}

  unified(): Kysely<UnifiedDatabase> {
    this.unifiedPool ??= createPool(this.config.UNIFIED_DATABASE_URL, { maxConnections: 20, applicationName: 'room-sync unified' });
    this.unifiedDb ??= createUnifiedDb(this.unifiedPool);
    return this.unifiedDb;
  }

  sourcePool(source: SourceName): pg.Pool {
    let pool = this.sourcePools.get(source);
    if (!pool) {
      const url = source === 'legacy' ? this.config.LEGACY_DATABASE_URL : this.config.CLOUD_DATABASE_URL;
      pool = createPool(url, { maxConnections: 4, applicationName: `room-sync ${source}` });
      this.sourcePools.set(source, pool);
    }
    return pool;
  }

  async client(): Promise<Client> {
    if (!this.temporalClient) {
      this.clientConnection = await Connection.connect({
        address: this.config.TEMPORAL_ADDRESS,
        interceptors: [busyWorkflowRetryInterceptor(this.onRetry)],
      });
      this.temporalClient = new Client({ connection: this.clientConnection, namespace: this.config.TEMPORAL_NAMESPACE });
    }
    return this.temporalClient;
  }

  async workerConnection(): Promise<NativeConnection> {
    this.nativeConnection ??= await NativeConnection.connect({ address: this.config.TEMPORAL_ADDRESS });
    return this.nativeConnection;
  }

  async close(): Promise<void> {
    await this.unifiedDb?.destroy();
    for (const pool of this.sourcePools.values()) await pool.end();
    await this.clientConnection?.close();
    await this.nativeConnection?.close();
  }
}
