// Where each process of the local Temporal cluster listens and which databases it uses:
// chosen once at the first `cluster start` and kept in <data dir>/cluster.json, so a
// restart finds the same addresses (and the workers their frontend).
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';

/** The Temporal services, each run in its own process; history twice, on two hosts. */
export const clusterProcessNames = ['history-1', 'history-2', 'matching', 'frontend', 'worker'] as const;
export type ClusterProcessName = (typeof clusterProcessNames)[number];

export function serviceOf(name: ClusterProcessName): 'history' | 'matching' | 'frontend' | 'worker' {
  return name.startsWith('history') ? 'history' : (name as 'matching' | 'frontend' | 'worker');
}

export const historyShards = 16;

const port = z.number().int().min(1).max(65_535);

const processPorts = z.object({ grpc: port, membership: port, http: port.optional() });
export type ProcessPorts = z.infer<typeof processPorts>;

export const clusterLayoutSchema = z.object({
  host: z.string().min(1),
  processes: z.record(z.enum(clusterProcessNames), processPorts),
  uiPort: port,
  postgres: z.object({ host: z.string().min(1), port, user: z.string().min(1), password: z.string() }),
  databases: z.object({ main: z.string().min(1), visibility: z.string().min(1) }),
  namespace: z.string().min(1),
  /** The frontend serves mutual TLS with the certificates in <data dir>/tls (`cluster start --tls`). */
  tls: z.boolean().default(false),
  /** Persistence connections each history host keeps open; the other services half (src/cluster/server-config.ts). */
  persistenceConnections: z.number().int().min(1).max(64).default(8),
});
export type ClusterLayout = z.infer<typeof clusterLayoutSchema>;

export function frontendAddress(layout: ClusterLayout): string {
  return `${layout.host}:${layout.processes.frontend.grpc}`;
}

export function uiUrl(layout: ClusterLayout): string {
  return `http://${layout.host}:${layout.uiPort}`;
}

/**
 * Temporal stores each host's membership port in a smallint column (cluster_membership), so
 * ports come from below 32768; the OS's ephemeral range (where it picks port 0) starts there.
 */
const portRange = { from: 20_000, to: 32_000 } as const;

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Distinct ports nothing listens on right now, below 32768. */
async function freePorts(count: number, host: string): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > 10_000) throw new Error(`no ${count} free ports between ${portRange.from} and ${portRange.to}`);
    const port = portRange.from + Math.floor(Math.random() * (portRange.to - portRange.from));
    if (!ports.has(port) && (await canListen(port, host))) ports.add(port);
  }
  return [...ports];
}

export interface LayoutRequest {
  readonly host: string;
  /** The frontend's gRPC port; 0 for any free one. */
  readonly frontendPort: number;
  readonly uiPort: number;
  readonly postgresUrl: string;
  readonly databasePrefix: string;
  readonly namespace: string;
  /** Mutual TLS on the frontend; kept with the layout, so a restart serves the same. */
  readonly tls?: boolean;
  /** Persistence connections per history host (default 8); fewer where the Postgres is shared with much else. */
  readonly persistenceConnections?: number;
}

/** Ports for every process (free ones, but for the frontend's and UI's when asked for). */
export async function allocateLayout(request: LayoutRequest): Promise<ClusterLayout> {
  const ports = await freePorts(clusterProcessNames.length * 2 + 2, request.host);
  const take = (): number => {
    const next = ports.pop();
    if (next === undefined) throw new Error('ran out of allocated ports');
    return next;
  };
  const processes = Object.fromEntries(
    clusterProcessNames.map((name) => {
      const grpc = name === 'frontend' && request.frontendPort > 0 ? request.frontendPort : take();
      return [name, { grpc, membership: take(), ...(name === 'frontend' ? { http: take() } : {}) }];
    }),
  ) as Record<ClusterProcessName, ProcessPorts>;
  const url = new URL(request.postgresUrl);
  return {
    host: request.host,
    processes,
    uiPort: request.uiPort > 0 ? request.uiPort : take(),
    postgres: {
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username || 'postgres'),
      password: decodeURIComponent(url.password),
    },
    databases: { main: `${request.databasePrefix}temporal`, visibility: `${request.databasePrefix}temporal_visibility` },
    namespace: request.namespace,
    tls: request.tls ?? false,
    persistenceConnections: request.persistenceConnections ?? 8,
  };
}

export function layoutPath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

export async function readLayout(dataDir: string): Promise<ClusterLayout | null> {
  let text: string;
  try {
    text = await readFile(layoutPath(dataDir), 'utf8');
  } catch {
    return null;
  }
  const parsed = clusterLayoutSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${layoutPath(dataDir)} is not a cluster layout (${parsed.error.message}); remove the folder to start afresh`);
  return parsed.data;
}

export async function writeLayout(dataDir: string, layout: ClusterLayout): Promise<void> {
  // It holds the Postgres password when the URL has one.
  await writeFile(layoutPath(dataDir), `${JSON.stringify(layout, null, 2)}\n`, { mode: 0o600 });
}
