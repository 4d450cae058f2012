import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Grove's raw tunnel protocol (docs/tunnels.md "Raw byte streams"): an HTTP/1.1 upgrade after which the connection
 * carries the session's bytes as they are, with no WebSocket or gRPC framing. Two upgrades use it:
 *
 * - a client's port-forward (`GET /v1/vms/{name}/port-forward?port=P`, `Upgrade: grove-tunnel/1`): after the 101 the
 *   first thing it reads is the session's status record, then the target's bytes;
 * - a worker's idle link (`GET /v1/workers/{name}/tunnel-link`, `Upgrade: grove-worker-link/1`): the controller
 *   writes one open header when a session takes it, the worker answers with the status record, then bytes flow.
 *
 * TCP's own half-close (FIN) and reset (RST) travel end to end, as they would on a direct connection.
 */
export const RAW_TUNNEL_PROTOCOL = 'grove-tunnel/1';
export const WORKER_LINK_PROTOCOL = 'grove-worker-link/1';

/** The status record of a session whose worker reached the target: a single zero byte. */
export const TUNNEL_OPENED = Buffer.from([0]);
/** Longest refusal text carried, in bytes of UTF-8. */
const MAX_REFUSAL_BYTES = 4096;
/** Longest HTTP answer head read before the upgrade is given up as not an HTTP answer. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Longest error body read from a refused upgrade. */
const MAX_BODY_BYTES = 64 * 1024;

/** The status record of a refused session: 1, the reason's length (2 bytes, big-endian), the reason in UTF-8. */
export function tunnelRefusal(message: string): Buffer {
  let text = Buffer.from(message, 'utf8');
  if (text.length > MAX_REFUSAL_BYTES) {
    text = Buffer.from(`${text.subarray(0, MAX_REFUSAL_BYTES - 3).toString('utf8')}…`, 'utf8');
  }
  const record = Buffer.allocUnsafe(3 + text.length);
  record[0] = 1;
  record.writeUInt16BE(text.length, 1);
  text.copy(record, 3);
  return record;
}

/** A port-forward's target could not be reached: the worker's reason (connection refused, VM gone, …). */
export class TunnelRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TunnelRefusedError';
  }
}

/** What a status record said: the target was reached, or why not. */
export type TunnelStatus = { opened: true } | { opened: false; message: string };

/**
 * Reads a status record from the start of a byte stream, fed chunk by chunk: `push` returns undefined until the
 * record is complete, then the status and the bytes that followed it in the same chunk (the target's first bytes).
 */
export class TunnelStatusReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { status: TunnelStatus; rest: Buffer } | undefined {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (buf.length === 0) {
      this.pending = buf;
      return undefined;
    }
    if (buf[0] === 0) {
      this.pending = Buffer.alloc(0);
      return { status: { opened: true }, rest: buf.subarray(1) };
    }
    if (buf[0] !== 1) {
      throw new Error(`the tunnel began with byte ${buf[0]}, not a status record`);
    }
    if (buf.length < 3 || buf.length < 3 + buf.readUInt16BE(1)) {
      this.pending = Buffer.from(buf);
      return undefined;
    }
    const end = 3 + buf.readUInt16BE(1);
    this.pending = Buffer.alloc(0);
    return { status: { opened: false, message: buf.toString('utf8', 3, end) }, rest: buf.subarray(end) };
  }
}

/** Reads the status record from a stream, leaving the bytes after it unread (unshifted) for the stream's next reader. */
export function readTunnelStatus(stream: Duplex): Promise<TunnelStatus> {
  const reader = new TunnelStatusReader();
  return readPrefix(stream, (chunk) => {
    const read = reader.push(chunk);
    return read && { value: read.status, rest: read.rest };
  });
}

/** Largest open header a worker accepts. */
const MAX_OPEN_HEADER_BYTES = 64 * 1024;

/**
 * The header a controller writes on a worker's idle link when a session takes it: the length of the open frame
 * (4 bytes, big-endian), then the frame (a `TunnelFrame` `open`, protobuf, as on the gRPC tunnels).
 */
export function linkOpenHeader(frame: Buffer): Buffer {
  const header = Buffer.allocUnsafe(4 + frame.length);
  header.writeUInt32BE(frame.length, 0);
  frame.copy(header, 4);
  return header;
}

/** Reads the open header from a worker link, leaving the session's first bytes after it unread. */
export function readLinkOpenHeader(stream: Duplex): Promise<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  return readPrefix(stream, (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (pending.length < 4) {
      return undefined;
    }
    const length = pending.readUInt32BE(0);
    if (length > MAX_OPEN_HEADER_BYTES) {
      throw new Error(`the open header announces ${length} bytes (at most ${MAX_OPEN_HEADER_BYTES})`);
    }
    if (pending.length < 4 + length) {
      return undefined;
    }
    return { value: Buffer.from(pending.subarray(4, 4 + length)), rest: pending.subarray(4 + length) };
  });
}

/** What an HTTP/1.1 upgrade request got back. */
export interface UpgradeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body of an answer other than 101 (cut at 64 KiB); empty for a 101. */
  body: string;
}

/** Writes an HTTP/1.1 upgrade request on a socket (connected or still connecting). */
export function sendUpgradeRequest(
  socket: Duplex,
  request: { path: string; host: string; protocol: string; headers: Record<string, string> },
): void {
  const lines = [
    `GET ${request.path} HTTP/1.1`,
    `Host: ${request.host}`,
    'Connection: Upgrade',
    `Upgrade: ${request.protocol}`,
    ...Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}

/**
 * Reads the answer to an upgrade request, and with `withStatus` the status record that follows a 101 (a port-forward's,
 * in the same read, so that nothing of the stream can reach another reader in between). On a 101 the bytes after what
 * was read are left unread on the socket (the tunnel's first bytes); on any other answer the body is read, and the
 * caller ends the socket (with the error it makes of the answer). Rejects when the connection ends or fails first, or when the answer is not HTTP.
 */
export async function readUpgradeAnswer(
  socket: Duplex,
  protocol: string,
  withStatus = false,
): Promise<UpgradeAnswer & { tunnel?: TunnelStatus }> {
  const readHead = headReader();
  const readStatus = new TunnelStatusReader();
  type Head = { status: number; headers: IncomingHttpHeaders };
  let head: Head | undefined;
  const read = await readPrefix<{ head: Head; tunnel?: TunnelStatus }>(socket, (chunk) => {
    let next = chunk;
    if (!head) {
      const parsed = readHead(chunk);
      if (!parsed) {
        return undefined;
      }
      head = parsed.value;
      if (head.status !== 101 || !withStatus) {
        return { value: { head }, rest: parsed.rest };
      }
      next = parsed.rest;
    }
    const status = readStatus.push(next);
    return status && { value: { head, tunnel: status.status }, rest: status.rest };
  });
  if (read.head.status === 101) {
    if (read.head.headers['upgrade']?.toLowerCase() !== protocol) {
      socket.destroy();
      throw new Error(`the server switched to "${read.head.headers['upgrade'] ?? ''}", not ${protocol}`);
    }
    return { ...read.head, body: '', ...(read.tunnel ? { tunnel: read.tunnel } : {}) };
  }
  const body = await readBody(socket, Number(read.head.headers['content-length'] ?? NaN));
  return { ...read.head, body };
}

type Prefix<T> = (chunk: Buffer) => { value: T; rest: Buffer } | undefined;

/**
 * Consumes a stream's first bytes with `parse` until it returns a value, then unshifts what followed. While it reads,
 * the stream's 'data' events reach `parse` only: a 'data' listener or a `pipe()` its next owner adds early (a
 * pipelined port-forward is read at once) sees nothing of the prefix, and then the rest in order. Afterwards the
 * stream is left as a new one is when nobody listens yet: data waits until a listener or a read takes it.
 */
function readPrefix<T>(stream: Duplex, parse: Prefix<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was, on the same object
    const emit = stream.emit;
    let done = false;
    const finish = () => {
      done = true;
      stream.emit = emit;
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
    };
    const onChunk = (chunk: Buffer) => {
      let parsed: { value: T; rest: Buffer } | undefined;
      try {
        parsed = parse(chunk);
      } catch (err) {
        finish();
        const error = err instanceof Error ? err : new Error(String(err));
        stream.destroy(error);
        reject(error);
        return;
      }
      if (!parsed) {
        return;
      }
      finish();
      if (stream.listenerCount('data') === 0) {
        stream.pause();
        (stream as { readableFlowing: boolean | null }).readableFlowing = null;
      }
      if (parsed.rest.length > 0) {
        stream.unshift(parsed.rest);
      }
      resolve(parsed.value);
    };
    stream.emit = function (this: Duplex, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'data' && !done) {
        onChunk(args[0] as Buffer);
        return true;
      }
      return emit.call(this, event, ...args);
    } as typeof stream.emit;
    const onEnd = () => {
      finish();
      reject(new Error('the connection closed before the answer was complete'));
    };
    const onError = (err: Error) => {
      finish();
      reject(err);
    };
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/** Parses an HTTP/1.1 answer head (status line and headers) from the chunks of a stream. */
function headReader(): Prefix<{ status: number; headers: IncomingHttpHeaders }> {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const end = pending.indexOf('\r\n\r\n');
    if (end < 0) {
      if (pending.length > MAX_HEAD_BYTES) {
        throw new Error('the server did not answer with HTTP');
      }
      return undefined;
    }
    const [statusLine, ...headerLines] = pending.toString('latin1', 0, end).split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!match) {
      throw new Error(`the server did not answer with HTTP: "${statusLine.slice(0, 80)}"`);
    }
    const headers: IncomingHttpHeaders = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon > 0) {
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    return { value: { status: Number(match[1]), headers }, rest: pending.subarray(end + 4) };
  };
}

/** Reads `length` bytes of body (or until the end when unknown, at most 64 KiB) as UTF-8. */
function readBody(stream: Duplex, length: number): Promise<string> {
  const limit = Number.isFinite(length) ? Math.min(length, MAX_BODY_BYTES) : MAX_BODY_BYTES;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      stream.off('data', onData);
      stream.off('end', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        done();
      }
    };
    if (limit === 0) {
      resolve('');
      return;
    }
    stream.on('data', onData);
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', done);
    stream.resume();
  });
}
