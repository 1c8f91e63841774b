import { randomBytes } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { Connector } from '../../src/cdc/connector.js';
import { describeSource } from '../../src/cdc/source-descriptor.js';
import { prepareSource } from '../../src/cdc/source-setup.js';
import { createPool, createUnifiedDb } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { resolvePipelineConnection, sourceKind, unifiedKind, type PipelineConnection } from '../../src/db/pipeline-credentials.js';
import type { UnifiedDatabase } from '../../src/db/schema.js';
import type { SourceName } from '../../src/domain/room.js';
import { createLogger } from '../../src/observability/logger.js';
import type { AlertChannel } from '../../src/monitoring/channels.js';
import type { Metrics } from '../../src/observability/metrics.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { adminUrlFor, dropDatabase, ensureDatabase } from '../../src/setup/postgres.js';
import { ensureSourceCdcRole, ensureUnifiedPipelineRole } from '../../src/setup/roles.js';
import { defaultMaxRoomsAwaitingApply, loadConfig } from '../../src/config/env.js';
import { ensureSourceSchema, projectRoot } from '../../src/setup/source-schemas.js';
import { temporalCliPath } from '../../src/setup/temporal.js';
import { sharedTestTemporal, suiteNamespace } from './shared-temporal.js';
import { freePort } from '../../bench/ports.js';
import { bundleRoomSyncWorkflows, createRoomSyncWorker, type WorkerRole } from '../../src/workers/worker.js';
import { roomSyncSearchAttributes } from '../../src/workflows/search-attributes.js';

// The suites' own databases live on the server the contract's variable names (the local default otherwise).
const serverUrl = adminUrlFor(loadConfig().UNIFIED_DATABASE_URL);
const quiet = () => undefined;

/** The same databases as the running pipeline connects to them: its own least-privileged roles (src/db/pipeline-credentials.ts). */
export interface PipelineDatabases {
  readonly connections: Readonly<Record<SourceName | 'unified', PipelineConnection>>;
  readonly urls: Readonly<Record<SourceName | 'unified', string>>;
  readonly legacy: pg.Pool;
  readonly cloud: pg.Pool;
  readonly unified: Kysely<UnifiedDatabase>;
}

/**
 * Three databases of the suite's own on the real server, dropped (with their slots) at the end.
 * `urls` and the pools are the configured (set-up) credentials, for the test to write the sources
 * and inspect anything; `pipeline` is what TestPipeline's worker and connectors use.
 */
export interface TestDatabases {
  readonly urls: Readonly<Record<SourceName | 'unified', string>>;
  readonly legacy: pg.Pool;
  readonly cloud: pg.Pool;
  readonly unifiedPool: pg.Pool;
  readonly unified: Kysely<UnifiedDatabase>;
  readonly pipeline: PipelineDatabases;
  drop(): Promise<void>;
}

export async function createTestDatabases(label: string): Promise<TestDatabases> {
  const prefix = `rs_test_${label}_${randomBytes(3).toString('hex')}`;
  const admin = adminUrlFor(serverUrl);
  const urlOf = (suffix: string) => {
    const url = new URL(serverUrl);
    url.pathname = `/${prefix}_${suffix}`;
    return url.toString();
  };
  const urls = { legacy: urlOf('legacy'), cloud: urlOf('cloud'), unified: urlOf('unified') };
  for (const url of Object.values(urls)) await ensureDatabase(admin, url, quiet);
  const legacy = createPool(urls.legacy, { applicationName: 'room-sync test' });
  const cloud = createPool(urls.cloud, { applicationName: 'room-sync test' });
  const unifiedPool = createPool(urls.unified, { applicationName: 'room-sync test' });
  const unified = createUnifiedDb(unifiedPool);
  await ensureSourceSchema(legacy, 'legacy');
  await ensureSourceSchema(cloud, 'cloud');
  await migrateToLatest(unified);
  for (const source of ['legacy', 'cloud'] as const) {
    await prepareSource(source === 'legacy' ? legacy : cloud, describeSource(source, urls[source]));
  }
  // As set-up does: the pipeline's roles (server-wide, shared by the suites on this server) and their grants on these databases.
  await ensureUnifiedPipelineRole(urls.unified, quiet);
  for (const source of ['legacy', 'cloud'] as const) await ensureSourceCdcRole(urls[source], source, quiet);
  const connections = {
    unified: await resolvePipelineConnection(urls.unified, unifiedKind(), 'unified'),
    legacy: await resolvePipelineConnection(urls.legacy, sourceKind('legacy'), 'legacy'),
    cloud: await resolvePipelineConnection(urls.cloud, sourceKind('cloud'), 'cloud'),
  };
  const pipelineLegacy = createPool(connections.legacy.url, { applicationName: 'room-sync test pipeline' });
  const pipelineCloud = createPool(connections.cloud.url, { applicationName: 'room-sync test pipeline' });
  const pipelineUnified = createUnifiedDb(createPool(connections.unified.url, { applicationName: 'room-sync test pipeline' }));
  const pipeline: PipelineDatabases = {
    connections,
    urls: { unified: connections.unified.url, legacy: connections.legacy.url, cloud: connections.cloud.url },
    legacy: pipelineLegacy,
    cloud: pipelineCloud,
    unified: pipelineUnified,
  };
  return {
    urls,
    legacy,
    cloud,
    unifiedPool,
    unified,
    pipeline,
    async drop() {
      await pipelineUnified.destroy();
      await pipelineLegacy.end();
      await pipelineCloud.end();
      await unified.destroy();
      await legacy.end();
      await cloud.end();
      for (const suffix of ['legacy', 'cloud', 'unified']) await dropDatabase(admin, `${prefix}_${suffix}`);
    },
  };
}

export interface TestTemporalOptions {
  /** The suite reads the Web UI: served on a port of its own (127.0.0.1) when the suite starts its own server. */
  readonly ui?: boolean;
}

export interface TestTemporal {
  readonly env: TestWorkflowEnvironment;
  /** The Web UI of the server, when asked for. */
  readonly uiUrl: string | null;
}

/**
 * The Temporal server a suite uses. Under `npm test` that is the one dev server of the
 * whole run (scripts/test.ts), and the suite has a namespace of its own on it (its
 * workflow ids, task queues and search attributes apart from every other suite);
 * a suite run on its own (`node --test file`) starts a dev server of its own.
 */
export async function startTestTemporalServer(options: TestTemporalOptions = {}): Promise<TestTemporal> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const shared = sharedTestTemporal();
  if (shared) {
    const env = await TestWorkflowEnvironment.createFromExistingServer({ address: shared.address, namespace: suiteNamespace() });
    return { env, uiUrl: options.ui ? shared.uiUrl : null };
  }
  const uiPort = options.ui ? await freePort() : undefined;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath(projectRoot) },
      ...(uiPort === undefined ? { ui: false } : { ui: true, uiPort }),
      log: { format: 'pretty', level: 'warn' },
      searchAttributes: [...roomSyncSearchAttributes],
    },
  });
  return { env, uiUrl: uiPort === undefined ? null : `http://127.0.0.1:${uiPort}` };
}

/** The real Temporal CLI dev server, built by the project's set-up into .tools/bin (see startTestTemporalServer). */
export async function startTestTemporal(): Promise<TestWorkflowEnvironment> {
  return (await startTestTemporalServer()).env;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null;
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleRoomSyncWorkflows();
  return bundle;
}

export async function defaultPolicy(): Promise<Policy> {
  return loadPolicy(`${projectRoot}/policies/default.yaml`);
}

export interface PipelineOptions {
  readonly heartbeatIntervalMs?: number;
  readonly maxInFlight?: number;
  /** Alert channels the worker's notification activity may use. */
  readonly channels?: readonly AlertChannel[];
  readonly metrics?: Metrics;
}

/** Worker and both connectors, wired as `npm start` wires them, on the suite's databases, as the pipeline's own roles. */
export class TestPipeline {
  readonly taskQueue = `room-sync-test-${randomBytes(4).toString('hex')}`;
  private readonly connectors = new Map<SourceName, Connector>();
  private workerRun: Promise<void> | null = null;
  private worker: Awaited<ReturnType<typeof createRoomSyncWorker>> | null = null;

  constructor(
    readonly env: TestWorkflowEnvironment,
    readonly dbs: TestDatabases,
    readonly policy: Policy,
    private readonly options: PipelineOptions = {},
  ) {}

  /** Room and monitor workers by default; `roles` starts only some (a test can stop the room worker alone). */
  async startWorker(roles: readonly WorkerRole[] = ['rooms', 'monitor']): Promise<void> {
    if (this.worker) throw new Error('a worker is already running');
    this.worker = await createRoomSyncWorker({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      taskQueue: this.taskQueue,
      db: this.dbs.pipeline.unified,
      policy: this.policy,
      workflowBundle: await workflowBundle(),
      roles,
      monitoring: {
        sources: (['legacy', 'cloud'] as const).map((source) => ({
          descriptor: describeSource(source, this.dbs.pipeline.urls[source]),
          pool: this.dbs.pipeline[source],
        })),
        channels: this.options.channels ?? [],
        log: createLogger('test.monitor'),
        ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
      },
    });
    this.workerRun = this.worker.run();
  }

  /** Shuts the worker down and waits for it; connectors keep running. */
  async stopWorker(): Promise<void> {
    this.worker?.shutdown();
    await this.workerRun;
    this.worker = null;
    this.workerRun = null;
  }

  /** Starts a connector (snapshot first when its slot is new); resolves once it streams. */
  async startConnector(source: SourceName): Promise<Connector> {
    const connector = this.createConnector(source);
    await connector.start();
    return connector;
  }

  /** A registered but not yet started connector, for tests that watch it while it starts. */
  createConnector(source: SourceName): Connector {
    if (this.connectors.has(source)) throw new Error(`a ${source} connector is already running`);
    const connector = new Connector({
      descriptor: describeSource(source, this.dbs.pipeline.urls[source]),
      unifiedDb: this.dbs.pipeline.unified,
      sourcePool: this.dbs.pipeline[source],
      temporal: this.env.client,
      taskQueue: this.taskQueue,
      maxInFlight: this.options.maxInFlight ?? 16,
      maxBatchChanges: 500,
      maxQueuedChanges: 20_000,
      maxRoomsAwaitingApply: defaultMaxRoomsAwaitingApply,
      minSendIntervalMs: 100,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1_000,
      log: createLogger(`test.connector.${source}`),
    });
    this.connectors.set(source, connector);
    return connector;
  }

  connector(source: SourceName): Connector {
    const connector = this.connectors.get(source);
    if (!connector) throw new Error(`no ${source} connector`);
    return connector;
  }

  async stopConnector(source: SourceName): Promise<void> {
    await this.connectors.get(source)?.stop();
    this.connectors.delete(source);
  }

  async start(): Promise<void> {
    await this.startWorker();
    await this.startConnector('legacy');
    await this.startConnector('cloud');
  }

  async stop(): Promise<void> {
    for (const source of [...this.connectors.keys()]) await this.stopConnector(source);
    this.worker?.shutdown();
    await this.workerRun;
  }
}

export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | null | false>,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`, { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
