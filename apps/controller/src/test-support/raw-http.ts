import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One HTTP/1.1 request with exactly the given headers (Node adds only `Host` and `Connection`; a body gets
 * `Content-Length`), unlike `fetch`, which labels a string body `text/plain`. The path goes on the wire as given.
 */
/**
 * Node frames a body by itself only for methods that usually carry one: a GET, HEAD, DELETE or OPTIONS body would go
 * out without `Content-Length` and read as the start of a next request. It is framed here, unless the caller chose
 * chunked transfer.
 */
function framed(headers: Record<string, string>, body: Buffer | string | undefined): Record<string, string> {
  const names = Object.keys(headers).map((h) => h.toLowerCase());
  if (body === undefined || names.includes('content-length') || names.includes('transfer-encoding')) {
    return headers;
  }
  return { ...headers, 'content-length': String(Buffer.byteLength(body)) };
}

export function rawRequest(
  port: number,
  options: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    timeoutMs?: number;
    /** Source address, e.g. another loopback address (127.0.0.0/8), for a different client address. */
    localAddress?: string;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method,
        path: options.path,
        headers: framed(options.headers ?? {}, options.body),
        localAddress: options.localAddress,
        // One connection per request: a request the server refuses half-read cannot disturb the next one.
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    // A WebSocket handshake the server accepts (101): the socket is closed at once, the status is what counts.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, headers: res.headers, body: Buffer.alloc(0) });
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () =>
      req.destroy(new Error(`no answer to ${options.method} ${options.path}`)),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
