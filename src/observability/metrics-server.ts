import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Serves /metrics for Prometheus; resolves once listening. Listens on this machine only
 * unless told otherwise (METRICS_HOST): the figures name sources, rooms and channels.
 */
export async function startMetricsServer(registry: Registry, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The address a person (or Prometheus) reaches it at: a wildcard host is shown as this machine. */
export function metricsUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/metrics`;
}
