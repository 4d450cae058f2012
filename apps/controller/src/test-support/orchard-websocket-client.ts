import type { IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { WebSocket } from 'ws';

/**
 * The WebSocket side of Orchard's Go client (`pkg/client` `wsRequestRaw`, `websocket.NetConn`, `execstream`), for the
 * contract test (issue 12): requests and messages shaped as that client sends them, answers checked as it checks them.
 */

/** The `User-Agent` of Orchard's Go client (`Orchard/<version>-<commit>`). */
export const ORCHARD_USER_AGENT = 'Orchard/0.45.0-b30bb5b';

/**
 * Go's `url.Values.Encode`, which builds the client's query: keys sorted, each key and value through `QueryEscape`
 * (a space is `+`; everything but letters, digits and `-_.~` is percent-encoded, `[` and `]` of `env[NAME]` too).
 */
export function goQuery(params: Record<string, string>): string {
  const escape = (text: string) =>
    encodeURIComponent(text)
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, '+');
  return Object.keys(params)
    .sort()
    .map((key) => `${escape(key)}=${escape(params[key])}`)
    .join('&');
}

/** How a WebSocket closed: the close frame's code and reason (1006: no close frame). */
export interface Closed {
  code: number;
  reason: string;
}

/** `execstream.Frame`, as Go's encoding/json reads and writes it (`data` is base64, empty fields omitted). */
export interface GoExecFrame {
  type: string;
  data?: string;
  terminal?: { rows: number; cols: number };
  exit?: { code: number };
  error?: string;
  watermark?: number;
}

/**
 * An accepted WebSocket, recording every message from the first one (which may come with the 101 answer) and how it
 * closed. Two views, as Orchard's client uses the two kinds of endpoint:
 * - port-forward, through `websocket.NetConn(ctx, conn, websocket.MessageBinary)`: every Write is one binary message;
 *   Read takes binary messages only (it fails on a text one: counted in `textMessages`); a close with 1000 or 1001 is
 *   the end of the data, any other an error; Close sends 1000;
 * - exec, through `execstream`: each frame is a text message of JSON (Go marshals `[]byte` as base64 and leaves out
 *   empty fields, so the end of stdin is `{"type":"stdin"}`); `readFrame` fails on a message that is not text
 *   (counted in `binaryMessages`).
 */
export class OrchardWebSocket {
  private readonly chunks: Buffer[] = [];
  /** The exec frames received (text messages), in order. */
  readonly frames: GoExecFrame[] = [];
  textMessages = 0;
  binaryMessages = 0;
  readonly closed: Promise<Closed>;
  /** The 101 answer. */
  response!: IncomingMessage;

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        this.binaryMessages++;
        this.chunks.push(data);
      } else {
        this.textMessages++;
        this.frames.push(JSON.parse(data.toString('utf8')) as GoExecFrame);
      }
    });
  }

  /** Port-forward: the bytes read so far. */
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Port-forward: one NetConn Write. */
  write(data: Buffer | string): void {
    this.ws.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true });
  }

  /** NetConn's Close, and the Go client's `Close(StatusNormalClosure, …)`. */
  close(): void {
    this.ws.close(1000);
  }

  /** Exec: sends a frame as Go's `json.Marshal` of an `execstream.Frame` encodes it. */
  send(type: string, fields: { data?: Buffer; watermark?: number } = {}): void {
    const frame: GoExecFrame = { type };
    if (fields.data !== undefined && fields.data.length > 0) {
      frame.data = fields.data.toString('base64');
    }
    if (fields.watermark) {
      frame.watermark = fields.watermark;
    }
    this.ws.send(JSON.stringify(frame));
  }

  /** Exec: the decoded data of the frames of `type` so far, in order. */
  output(type: 'stdout' | 'stderr' = 'stdout'): string {
    return this.frames
      .filter((f) => f.type === type)
      .map((f) => Buffer.from(f.data ?? '', 'base64').toString('utf8'))
      .join('');
  }

  /** Exec: the `exit` frame, once it came. */
  get exit(): GoExecFrame | undefined {
    return this.frames.find((f) => f.type === 'exit');
  }
}

/** A handshake the controller refused: the HTTP answer, its body decompressed and parsed as Go's transport would. */
export interface Refused {
  status: number;
  body: unknown;
}

/**
 * Dials `ws://127.0.0.1:<port>/v1/<path>?<query>` as coder/websocket's `Dial` does through the client's http.Client:
 * `Connection`, `Upgrade`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key`, and from `modifyHeader` the `User-Agent` and
 * (with credentials) `Authorization: Basic …`; Go's transport adds `Accept-Encoding: gzip`. No subprotocol, no
 * compression extension, no `Origin`. An accepted handshake must pass coder/websocket's checks of the 101 answer
 * (`ws` makes the same ones: the accept key, and no subprotocol or extension that was not asked for).
 */
export function orchardDial(
  port: number,
  path: string,
  params: Record<string, string>,
  authorization: string | undefined,
): Promise<OrchardWebSocket | Refused> {
  const query = goQuery(params);
  const headers: Record<string, string> = { 'user-agent': ORCHARD_USER_AGENT, 'accept-encoding': 'gzip' };
  if (authorization !== undefined) {
    headers['authorization'] = authorization;
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/${path}${query === '' ? '' : `?${query}`}`, {
      headers,
      perMessageDeflate: false,
      followRedirects: false,
    });
    const conn = new OrchardWebSocket(ws);
    ws.once('upgrade', (res: IncomingMessage) => (conn.response = res));
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        const raw = Buffer.concat(chunks);
        const text = (res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) });
        ws.on('error', () => undefined);
        req.destroy();
      });
    });
    ws.once('error', reject);
  });
}
