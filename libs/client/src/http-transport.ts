import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type * as Zlib from 'node:zlib';
import type * as Ws from 'ws';
import type { WebSocket } from 'ws';
import { ApiError, connectionError, ControllerConnectionError } from './client.errors';
import { RawDialer } from './raw-dialer';

/**
 * The DNS name in the SAN of the controller's self-signed certificate. A pinned certificate is checked against this
 * name whatever host the URL uses, so `https://10.0.0.5:6120` works with the certificate a controller generated.
 */
export const CONTROLLER_SERVER_NAME = 'grove-controller';

export const DEFAULT_TIMEOUT_MS = 30_000;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface TransportOptions {
  /** Base URL of the controller, e.g. `https://controller.example.com:6120` (a path prefix is kept). */
  url: string;
  serviceAccountName?: string;
  serviceAccountToken?: string;
  /** PEM of the controller certificate to trust instead of the system's certificate authorities. */
  certificatePem?: string;
  /** Deadline of a whole request, response body included; streams have none. */
  timeoutMs?: number;
  userAgent: string;
}

export interface TransportRequest {
  method: HttpMethod;
  /**
   * Ask for a gzip-compressed answer (`Accept-Encoding: gzip`); the body is decoded before it is parsed. For JSON
   * answers: the controller compresses the VM list (10,000 VMs are 11 MB of JSON, a few hundred KB compressed).
   */
  gzip?: boolean;
  /** Path below `/v1/`, with every user-supplied segment already URL-encoded. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Deadline of this request instead of the transport's. */
  timeoutMs?: number;
}

export interface JsonResponse<T> {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed body; undefined when the controller sent none. */
  body: T;
}

/**
 * `ws` (with its native `bufferutil`), required on first use: most commands of the CLI never open a WebSocket, and
 * loading it costs every process 15–25 ms at start-up (docs/benchmarks.md, "CLI start-up").
 */
function loadWs(): typeof Ws {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('ws') as typeof Ws;
}

/** HTTP/1.1 with JSON bodies over one keep-alive agent, with TLS pinning when a certificate is given. */
export class HttpTransport {
  readonly baseUrl: URL;
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private readonly pinned: boolean;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly tls: { ca?: string; servername?: string; checkServerIdentity?: typeof checkServerIdentity };
  private readonly raw: RawDialer;

  constructor(options: TransportOptions) {
    this.baseUrl = parseBaseUrl(options.url);
    this.secure = this.baseUrl.protocol === 'https:';
    this.pinned = this.secure && options.certificatePem !== undefined && options.certificatePem !== '';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.tls = this.pinned
      ? {
          ca: options.certificatePem,
          servername: CONTROLLER_SERVER_NAME,
          checkServerIdentity: (_host: string, cert: PeerCertificate) =>
            checkServerIdentity(CONTROLLER_SERVER_NAME, cert),
        }
      : {};
    this.agent = this.secure ? new HttpsAgent({ keepAlive: true, ...this.tls }) : new HttpAgent({ keepAlive: true });
    this.headers = { 'user-agent': options.userAgent, accept: 'application/json' };
    if (options.serviceAccountName !== undefined && options.serviceAccountName !== '') {
      const credentials = `${options.serviceAccountName}:${options.serviceAccountToken ?? ''}`;
      this.headers['authorization'] = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    }
    this.raw = new RawDialer(this.baseUrl, this.secure ? this.tls : undefined, this.headers, this.pinned);
  }

  /** The controller URL as shown in messages. */
  get url(): string {
    return this.baseUrl.toString().replace(/\/$/, '');
  }

  /** Sends a request and parses the JSON answer; a non-2xx answer becomes an ApiError. */
  async json<T>(req: TransportRequest): Promise<JsonResponse<T>> {
    const deadline = new AbortController();
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline.signal]) : deadline.signal;
    try {
      const res = await this.open({ gzip: true, ...req, signal });
      const text = await readText(res);
      if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) {
        throw ApiError.fromResponse(res.statusCode ?? 0, text, res.headers);
      }
      return { status: res.statusCode, headers: res.headers, body: parseJson<T>(text, this.url) };
    } catch (err) {
      if (deadline.signal.aborted && !(err instanceof ApiError)) {
        throw new ControllerConnectionError(
          'timeout',
          this.url,
          `the controller at ${this.url} did not answer within ${formatSeconds(timeoutMs)}`,
          'ETIMEDOUT',
          { cause: err },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Opens a streaming request without a deadline and returns the response once its status is 2xx (otherwise the
   * body is read and an ApiError thrown). The caller consumes the body; aborting `signal` ends it.
   */
  async stream(req: TransportRequest): Promise<IncomingMessage> {
    const res = await this.open(req);
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) {
      throw ApiError.fromResponse(res.statusCode ?? 0, await readText(res), res.headers);
    }
    return res;
  }

  /**
   * Opens a WebSocket, paused (see below). The handshake may take up to `handshakeMs` (the controller answers only
   * once the far end is ready); an answer other than 101 becomes an ApiError with the controller's message.
   */
  webSocket(
    req: Omit<TransportRequest, 'method' | 'body'> & { handshakeMs: number; protocols?: string[] },
  ): Promise<WebSocket> {
    const url = this.target(req.path, req.query);
    url.protocol = this.secure ? 'wss:' : 'ws:';
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new (loadWs().WebSocket)(url, req.protocols ?? [], {
        headers: this.headers,
        perMessageDeflate: false,
        handshakeTimeout: req.handshakeMs,
        maxPayload: 1024 * 1024,
        // Masking protects browsers behind caching proxies; this client is not one, and XOR-ing every byte with a
        // random key costs a third of the throughput (tunnels.md §4.4). A zero key is a valid mask.
        generateMask: (mask: Buffer) => void mask.fill(0),
        ...this.tls,
      });
      const onAbort = () => ws.terminate();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      ws.once('unexpected-response', (_request, res: IncomingMessage) => {
        readText(res)
          .then(
            (text) => reject(ApiError.fromResponse(res.statusCode ?? 0, text, res.headers)),
            (err: Error) => reject(connectionError(err, this.url, this.pinned)),
          )
          .finally(() => ws.terminate());
      });
      ws.once('error', (err: Error) => {
        req.signal?.removeEventListener('abort', onAbort);
        reject(req.signal?.aborted ? err : connectionError(err, this.url, this.pinned));
      });
      ws.once('open', () => {
        req.signal?.removeEventListener('abort', onAbort);
        // Paused until the caller reads: the far end's first bytes (an SSH banner) may arrive with the handshake
        // answer, and a message emitted before anyone listens is lost. `createWebSocketStream` resumes on its first
        // read; direct users call `ws.resume()` after adding their 'message' listener.
        ws.pause();
        resolve(ws);
      });
    });
  }

  /**
   * Upgrades a new connection to one of Grove's raw protocols (raw-tunnel.ts) and returns it after the 101, the bytes
   * after the answer unread; another answer is an ApiError with the controller's message.
   */
  rawUpgrade(
    req: Omit<TransportRequest, 'method' | 'body'> & {
      protocol: string;
      handshakeMs: number;
      headers?: Record<string, string>;
    },
  ): Promise<Socket> {
    return this.raw.upgrade({ ...req, url: this.target(req.path, req.query) });
  }

  /**
   * `rawUpgrade` without waiting: returns the connection once the request is written, so that the session's first
   * bytes can follow it at once; `answered` settles as `rawUpgrade` would.
   */
  beginRawUpgrade(
    req: Omit<TransportRequest, 'method' | 'body'> & {
      protocol: string;
      handshakeMs: number;
      headers?: Record<string, string>;
      withStatus?: boolean;
    },
  ): { socket: Socket; answered: Promise<void> } {
    return this.raw.begin({ ...req, url: this.target(req.path, req.query) });
  }

  /** From now on keeps one connection ready for the next `rawUpgrade` (a session then skips TCP and TLS handshakes). */
  keepRawConnectionReady(): void {
    this.raw.prepare();
  }

  /** Closes idle keep-alive connections and the connection kept ready; in-flight requests finish. */
  close(): void {
    this.agent.destroy();
    this.raw.close();
  }

  private open(req: TransportRequest): Promise<IncomingMessage> {
    const target = this.target(req.path, req.query);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
    const headers: Record<string, string | number> = { ...this.headers };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    if (req.gzip) {
      headers['accept-encoding'] = 'gzip';
    }
    const send = this.secure ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = send(target, { method: req.method, headers, agent: this.agent, signal: req.signal }, (res) => {
        res.once('error', () => undefined);
        resolve(res);
      });
      // An abort by the caller stays an AbortError; everything else gets a message naming the controller.
      request.once('error', (err) => reject(req.signal?.aborted ? err : connectionError(err, this.url, this.pinned)));
      request.end(payload);
    });
  }

  private target(path: string, query: TransportRequest['query']): URL {
    const url = new URL(this.baseUrl.toString());
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/${path}`;
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(key, String(value));
      }
    }
    return url;
  }
}

function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`invalid controller URL "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid controller URL "${text}": the scheme must be http or https`);
  }
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * zlib, required on first use: only a compressed answer needs it, and every module loaded at start-up costs each CLI
 * process time (see loadWs).
 */
function loadZlib(): typeof Zlib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, see above
  return require('node:zlib') as typeof Zlib;
}

/** The body as text, decoded when the server compressed it with gzip. */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const gzip = String(res.headers['content-encoding'] ?? '').toLowerCase() === 'gzip';
    const body: Readable = gzip ? res.pipe(loadZlib().createGunzip()) : res;
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.once('error', (err) => reject(gzip ? new Error('the compressed answer is corrupt', { cause: err }) : err));
    res.once('error', reject);
    res.once('aborted', () => reject(new Error('the connection closed before the whole answer arrived')));
  });
}

function parseJson<T>(text: string, url: string): T {
  if (text.trim() === '') {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ControllerConnectionError(
      'protocol',
      url,
      `the controller at ${url} answered with something that is not JSON`,
      undefined,
      { cause: err },
    );
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
