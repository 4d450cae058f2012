import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as GrpcServer, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  workerServiceDefinition,
  type ControllerMessage,
  type TunnelFrame,
  type WorkerMessage__Output,
} from '@grove/proto';

export type StandInSessionCall = ServerDuplexStream<WorkerMessage__Output, ControllerMessage>;
export type StandInTunnelCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;

/** A REST answer the test chooses instead of the usual one; undefined answers as usual. */
export type RestOverride = (
  req: IncomingMessage,
) => { status: number; body?: unknown; headers?: Record<string, string> } | undefined;

/**
 * The controller as a worker session sees it, in process, for the session's unit tests: `POST /v1/workers`,
 * `PUT /v1/workers/{name}` and `GET /v1/controller/info` over HTTP, and a gRPC WorkerService whose Session answers
 * Hello with a Welcome (one idle tunnel, pings once a minute). It can go down and come back on the same HTTP port, as a
 * restarted controller does.
 */
export class StandInController {
  /** Every REST request, with when it arrived (ms since the epoch) and its body. */
  readonly requests: { method: string; url: string; at: number; body: string }[] = [];
  /** Every Session call, in order; the last one is current. */
  readonly sessions: StandInSessionCall[] = [];
  /** Tunnel calls the worker opened and the test has not taken yet. */
  readonly idleTunnels: StandInTunnelCall[] = [];
  override: RestOverride | undefined;
  private http: HttpServer | undefined;
  private grpc: GrpcServer | undefined;
  private port = 0;

  /** `http://127.0.0.1:PORT`, the same across `stop()` and `start()`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on the port of the previous start, or on a free one the first time. */
  async start(): Promise<void> {
    const grpc = new GrpcServer();
    grpc.addService(workerServiceDefinition(), {
      Session: (call: StandInSessionCall) => this.session(call),
      Tunnel: (call: StandInTunnelCall) => this.idleTunnels.push(call),
    });
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    this.grpc = grpc;
    const http = createServer((req, res) => this.answer(req, res, grpcPort));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (http.address() as AddressInfo).port;
    this.http = http;
  }

  /** Goes down at once, as a killed process would: connections reset, sessions fail with UNAVAILABLE. */
  async stop(): Promise<void> {
    this.grpc?.forceShutdown();
    this.grpc = undefined;
    const http = this.http;
    this.http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }

  private session(call: StandInSessionCall): void {
    this.sessions.push(call);
    call.on('error', () => undefined);
    call.on('data', (message: WorkerMessage__Output) => {
      if (message.kind === 'hello') {
        call.write({
          welcome: {
            protocol_version: 1,
            capabilities: [],
            ping_interval_ms: 60_000,
            session_key: `key-${this.sessions.length}`,
            idle_tunnels: 1,
          },
        });
      }
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, grpcPort: number): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', at: Date.now(), body });
      const chosen = this.override?.(req) ?? {
        status: 200,
        body: req.url === '/v1/controller/info' ? { grpcPort } : {},
      };
      const text = JSON.stringify(chosen.body ?? {});
      res.writeHead(chosen.status, { 'content-type': 'application/json', ...chosen.headers });
      res.end(text);
    });
  }
}
