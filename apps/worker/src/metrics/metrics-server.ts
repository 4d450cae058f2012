import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What `/healthz` answers: 200 or 503, and a small JSON document saying why. */
export interface HealthAnswer {
  status: 200 | 503;
  body: Record<string, unknown>;
}

export interface MetricsServerOptions {
  host: string;
  /** 0 for any free port. */
  port: number;
  /** The Prometheus text exposition of the worker's metrics. */
  metrics: () => Promise<{ contentType: string; body: string }>;
  health: () => HealthAnswer;
}

/**
 * The worker's only HTTP listener (issue 14): `GET /healthz` and `GET /metrics` (HEAD as well), 404 for any other path
 * and 405 for any other method. A plain `node:http` server: two fixed routes need no framework, and the worker loads no
 * HTTP stack when the listener is off (docs/worker-internals.md says more).
 */
export class MetricsServer {
  private server: Server | undefined;

  constructor(private readonly options: MetricsServerOptions) {}

  /** Starts listening; resolves with the address taken (the port the system chose for port 0). */
  listen(): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.answer(req, res));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.options.host, port: this.options.port }, () => {
        server.off('error', reject);
        this.server = server;
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops listening and ends the connections open: Prometheus keeps its scrape connection alive between scrapes, and a
   * stopping worker must not wait for it.
   */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    if (path !== '/healthz' && path !== '/metrics') {
      send(res, 404, 'application/json', JSON.stringify({ error: `no such path: ${path} (try /healthz or /metrics)` }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'application/json', JSON.stringify({ error: `${req.method} is not allowed: use GET` }));
      return;
    }
    if (path === '/healthz') {
      const { status, body } = this.options.health();
      send(res, status, 'application/json', JSON.stringify(body), req.method === 'HEAD');
      return;
    }
    try {
      const { contentType, body } = await this.options.metrics();
      send(res, 200, contentType, body, req.method === 'HEAD');
    } catch (err) {
      send(res, 500, 'text/plain', `cannot collect the metrics: ${(err as Error).message}\n`);
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headOnly = false): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : body);
}
