import type { AppConfig } from '../config/env.js';
import { isLocalServer } from '../config/env.js';
import { describeSource, heartbeatTable } from '../cdc/source-descriptor.js';
import { prepareSource } from '../cdc/source-setup.js';
import { createPool, createUnifiedDb } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Logger } from '../observability/logger.js';
import { adminUrlFor, ensureDatabase, ensureLogicalReplication, ensurePostgresRunning } from '../setup/postgres.js';
import { ensureSourceCdcRole, ensureUnifiedPipelineRole, type RoleSetup } from '../setup/roles.js';
import type { SourceName } from '../domain/room.js';
import { ensureSourceSchema, projectRoot } from '../setup/source-schemas.js';
import { ensureTemporalServer } from '../setup/temporal.js';
import { ensureSearchAttributes } from '../setup/search-attributes.js';
import { Connection } from '@temporalio/client';
import { describeConnectionSettings, isSecuredConnection } from '../temporal/connection-settings.js';

export interface PreparedEnvironment {
  /** Stops the Temporal dev server if this process started it; a running one is left alone. */
  stopTemporal(): Promise<void>;
  readonly temporalStarted: boolean;
}

export interface PrepareOptions {
  /** Create the source databases and their tables from the contract DDL (local demo only). */
  readonly createSources: boolean;
  readonly startTemporal: boolean;
}

/** True when every database URL is the contract's local default server, where set-up may create and manage things. */
export function usesLocalServer(config: AppConfig): boolean {
  return [config.LEGACY_DATABASE_URL, config.CLOUD_DATABASE_URL, config.UNIFIED_DATABASE_URL].every(isLocalServer);
}

/** Postgres reachable and ready for logical replication, on every server the URLs name. */
export async function preparePostgres(config: AppConfig, log: Logger): Promise<void> {
  const say = (message: string) => log.info(message);
  const admins = new Set([config.LEGACY_DATABASE_URL, config.CLOUD_DATABASE_URL, config.UNIFIED_DATABASE_URL].map(adminUrlFor));
  for (const admin of admins) await ensurePostgresRunning(admin, say);
  // Only the sources need logical decoding.
  for (const admin of new Set([config.LEGACY_DATABASE_URL, config.CLOUD_DATABASE_URL].map(adminUrlFor))) {
    await ensureLogicalReplication(admin, say);
  }
}

/** Everything `npm start` needs before the worker and connectors run; each step is idempotent. */
export async function prepareEnvironment(config: AppConfig, options: PrepareOptions, log: Logger): Promise<PreparedEnvironment> {
  const say = (message: string) => log.info(message);
  await preparePostgres(config, log);

  if (options.createSources) {
    for (const [source, url] of [['legacy', config.LEGACY_DATABASE_URL], ['cloud', config.CLOUD_DATABASE_URL]] as const) {
      if (await ensureDatabase(adminUrlFor(url), url, say)) log.info('created source database', { source });
      const pool = createPool(url, { maxConnections: 1 });
      try {
        if (await ensureSourceSchema(pool, source)) log.info('created source tables from the contract DDL', { source });
      } finally {
        await pool.end();
      }
    }
  }

  if (await ensureDatabase(adminUrlFor(config.UNIFIED_DATABASE_URL), config.UNIFIED_DATABASE_URL, say)) {
    log.info('created unified database');
  }
  const unifiedPool = createPool(config.UNIFIED_DATABASE_URL, { maxConnections: 1 });
  const unified = createUnifiedDb(unifiedPool);
  try {
    const applied = await migrateToLatest(unified);
    if (applied.length > 0) log.info('migrated unified schema', { applied });
  } finally {
    await unified.destroy();
  }
  await prepareUnifiedRoles(config, log);

  await prepareSources(config, log);

  if (!options.startTemporal) return { stopTemporal: async () => undefined, temporalStarted: false };
  const temporal = await ensureTemporalServer({
    projectRoot,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    secured: isSecuredConnection(config.temporalConnection),
    log: say,
  });
  if (temporal.started) log.info('started Temporal dev server', { address: config.TEMPORAL_ADDRESS, ui: config.TEMPORAL_UI_URL });
  else log.info('using the Temporal server found', { address: config.TEMPORAL_ADDRESS, connection: describeConnectionSettings(config.temporalConnection) });
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, ...config.temporalConnection });
  try {
    const registered = await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    if (registered.length > 0) log.info('registered search attributes', { namespace: config.TEMPORAL_NAMESPACE, registered });
  } finally {
    await connection.close();
  }
  return { stopTemporal: () => temporal.stop(), temporalStarted: temporal.started };
}

/** `room-sync sources prepare`: publication, replica identity and heartbeat table on both sources. */
export async function prepareSources(config: AppConfig, log: Logger): Promise<void> {
  for (const [source, url] of [['legacy', config.LEGACY_DATABASE_URL], ['cloud', config.CLOUD_DATABASE_URL]] as const) {
    const pool = createPool(url, { maxConnections: 1 });
    try {
      const prepared = await prepareSource(pool, describeSource(source, url));
      const changed = prepared.createdPublication || prepared.addedTables.length > 0 || prepared.replicaIdentityChanged.length > 0;
      if (changed) log.info('prepared source for CDC', { source, ...prepared });
    } finally {
      await pool.end();
    }
    await prepareSourceRoles(config, source, log);
  }
}

function reportRoles(setup: RoleSetup, database: string, log: Logger): void {
  if (setup.createdRole) log.info('created the pipeline role', { role: setup.role, database });
  if (setup.advice !== null) log.warn(setup.advice);
}

/**
 * The pipeline's role on the unified database and its grants (after the migrations, every time):
 * created when UNIFIED_DATABASE_URL names a superuser or an owner of the audit tables, else that
 * URL's role is the pipeline's and only checked (docs/operations.md, "Database roles").
 */
export async function prepareUnifiedRoles(config: AppConfig, log: Logger): Promise<void> {
  reportRoles(await ensureUnifiedPipelineRole(config.UNIFIED_DATABASE_URL, (message) => log.info(message)), 'unified', log);
}

/**
 * `room-sync setup`: the connector's role on each source already prepared for CDC (its grants
 * need the heartbeat table); a source not prepared yet gets it from `sources prepare` or `start`.
 */
export async function prepareRolesOfPreparedSources(config: AppConfig, log: Logger): Promise<void> {
  for (const [source, url] of [['legacy', config.LEGACY_DATABASE_URL], ['cloud', config.CLOUD_DATABASE_URL]] as const) {
    const pool = createPool(url, { maxConnections: 1 });
    let prepared: boolean;
    try {
      const { rows } = await pool.query<{ prepared: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS prepared`, [heartbeatTable]);
      prepared = rows[0]?.prepared === true;
    } catch (error) {
      log.info('source not reachable: its role is set up by `sources prepare` or `start`', { source, error });
      continue;
    } finally {
      await pool.end();
    }
    if (prepared) await prepareSourceRoles(config, source, log);
    else log.info('source not prepared for CDC yet: `sources prepare` or `start` sets up its role', { source });
  }
}

/** The connector's role on a source and its grants (after the source's CDC set-up, every time). */
export async function prepareSourceRoles(config: AppConfig, source: SourceName, log: Logger): Promise<void> {
  const url = source === 'legacy' ? config.LEGACY_DATABASE_URL : config.CLOUD_DATABASE_URL;
  reportRoles(await ensureSourceCdcRole(url, source, (message) => log.info(message)), source, log);
}
