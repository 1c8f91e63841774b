import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedAlert {
  /** The request's path, without its query string. */
  readonly path: string;
  /** The path with its query string, as requested (a webhook's token travels there). */
  readonly url: string;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

/** A local HTTP endpoint standing in for PagerDuty and a webhook; `/fail` (any query) always answers 500. */
export class AlertReceiver {
  readonly received: ReceivedAlert[] = [];
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      request.on('end', () => {
        const url = request.url ?? '';
        const path = new URL(url, 'http://receiver').pathname;
        if (path === '/fail') {
          response.writeHead(500).end('receiver is down');
          return;
        }
        this.received.push({ path, url, body: JSON.parse(raw) as Record<string, unknown>, at: Date.now() });
        response.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  on(path: string): ReceivedAlert[] {
    return this.received.filter((alert) => alert.path === path);
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
