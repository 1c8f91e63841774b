// The Temporal server's configuration for each process of the local cluster. v1.29's
// `server` reads <config dir>/<env>.yaml (`--root`, `--config`, `--env`): every process
// gets a file of its own, the same but for the history host's ports and the pool sizes.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { clusterCertificates, clusterServerName } from './certificates.js';
import { frontendAddress, historyShards, serviceOf, type ClusterLayout, type ClusterProcessName, type ProcessPorts } from './layout.js';

export function configDir(dataDir: string): string {
  return join(dataDir, 'config');
}

export function dynamicConfigPath(dataDir: string): string {
  return join(dataDir, 'config', 'dynamicconfig.yaml');
}

/**
 * The settings room-sync's dev server runs with (src/setup/temporal.ts), so the dev server's
 * and the cluster's figures compare: one partition per task queue (few pollers), and room
 * workflows' recent events kept in each history host's cache.
 */
export const clusterDynamicConfig: Readonly<Record<string, unknown>> = {
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
  'history.eventsCacheMaxSizeBytes': 67_108_864,
};

function rpc(ports: ProcessPorts): Record<string, unknown> {
  return {
    grpcPort: ports.grpc,
    membershipPort: ports.membership,
    bindOnLocalHost: true,
    ...(ports.http === undefined ? {} : { httpPort: ports.http }),
  };
}

/**
 * Connections per process, each kept open (idle = max): with fewer kept, Go's pool closes a
 * connection whenever more were busy a moment before, and under load every such close is a new
 * Postgres backend forked and warmed a moment later (measured: about half a core of short-lived
 * backends at 50 changes/s). History hosts carry the shards and most of the persistence traffic and
 * get the layout's `persistenceConnections` (8 by default: 6 left 50 changes/s unsustained), the
 * others half; the visibility stores 2 (1 when the layout asks for fewer than 8). All of them stay
 * open on the shared Postgres: 42 by default, 19 with 4 (the test suite's cluster, beside the other
 * suites' connections).
 */
function pools(layout: ClusterLayout, name: ClusterProcessName): { main: { max: number; idle: number }; visibility: { max: number; idle: number } } {
  const history = layout.persistenceConnections;
  const max = serviceOf(name) === 'history' ? history : Math.max(1, Math.ceil(history / 2));
  const visibility = history >= 8 ? 2 : 1;
  return { main: { max, idle: max }, visibility: { max: visibility, idle: visibility } };
}

/**
 * Mutual TLS on the frontend (`cluster start --tls`): clients need a certificate of the
 * cluster's CA. The internal worker service reaches the frontend with the client certificate;
 * traffic between the hosts stays plain (they listen on localhost only).
 */
function tlsConfig(dataDir: string): Record<string, unknown> {
  const certs = clusterCertificates(dataDir);
  const client = { serverName: clusterServerName, rootCaFiles: [certs.caCert] };
  return {
    frontend: {
      server: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFiles: [certs.caCert], requireClientAuth: true },
      client,
    },
    systemWorker: { certFile: certs.clientCert, keyFile: certs.clientKey, client },
  };
}

export function serverConfig(layout: ClusterLayout, name: ClusterProcessName, dataDir: string): Record<string, unknown> {
  const { postgres } = layout;
  const store = (databaseName: string, { max, idle }: { max: number; idle: number }) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns: max,
      maxIdleConns: idle,
      maxConnLifetime: '1h',
    },
  });
  // The history entry is this process's own when it is a history host; the others only need one to be valid.
  const history = layout.processes[serviceOf(name) === 'history' ? name : 'history-1'];
  const pool = pools(layout, name);
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: historyShards,
      datastores: {
        'postgres-default': store(layout.databases.main, pool.main),
        'postgres-visibility': store(layout.databases.visibility, pool.visibility),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: layout.host },
      ...(layout.tls ? { tls: tlsConfig(dataDir) } : {}),
    },
    services: {
      frontend: { rpc: rpc(layout.processes.frontend) },
      matching: { rpc: rpc(layout.processes.matching) },
      history: { rpc: rpc(history) },
      worker: { rpc: rpc(layout.processes.worker) },
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontendAddress(layout) } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // The internal worker service reaches the frontend here.
    publicClient: { hostPort: frontendAddress(layout) },
    dynamicConfigClient: { filepath: dynamicConfigPath(dataDir), pollInterval: '10s' },
  };
}

/** Writes one `<process>.yaml` per process and the shared dynamic config; the env name is the process name. */
export async function writeServerConfigs(layout: ClusterLayout, names: readonly ClusterProcessName[], dataDir: string): Promise<void> {
  await mkdir(configDir(dataDir), { recursive: true });
  const dynamic = Object.fromEntries(Object.entries(clusterDynamicConfig).map(([key, value]) => [key, [{ value, constraints: {} }]]));
  await writeFile(dynamicConfigPath(dataDir), stringify(dynamic));
  for (const name of names) {
    // Holds the Postgres password when there is one.
    await writeFile(join(configDir(dataDir), `${name}.yaml`), stringify(serverConfig(layout, name, dataDir)), { mode: 0o600 });
  }
}

export function uiServerConfig(layout: ClusterLayout, dataDir: string): Record<string, unknown> {
  const certs = clusterCertificates(dataDir);
  return {
    ...(layout.tls
      ? { tls: { caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, serverName: clusterServerName, enableHostVerification: true } }
      : {}),
    temporalGrpcAddress: frontendAddress(layout),
    host: layout.host,
    port: layout.uiPort,
    enableUi: true,
    defaultNamespace: layout.namespace,
    cors: { allowOrigins: [`http://${layout.host}:${layout.uiPort}`] },
    auth: { enabled: false },
  };
}

export function uiConfigDir(dataDir: string): string {
  return join(dataDir, 'ui-config');
}

/** The UI server reads <dir>/<env>.yaml like the Temporal server (`--root`, `--config`, `--env ui`). */
export async function writeUiServerConfig(layout: ClusterLayout, dataDir: string): Promise<void> {
  await mkdir(uiConfigDir(dataDir), { recursive: true });
  await writeFile(join(uiConfigDir(dataDir), 'ui.yaml'), stringify(uiServerConfig(layout, dataDir)));
}
