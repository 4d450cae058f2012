import { type Agent, request } from 'node:http';
import type { Socket } from 'node:net';

/** A streamed NDJSON answer as it arrives, read over plain HTTP so that how it ended can be told exactly. */
export interface NdjsonResponse {
  status: number;
  /** The lines received so far, parsed. */
  lines: unknown[];
  /**
   * How the response ended: `end` when it was complete (the last chunk of the chunked encoding arrived), otherwise
   * what cut it (`cut: <error>`).
   */
  ended: Promise<string>;
  /** Resolves once the response's TCP connection has closed. */
  connectionClosed: Promise<void>;
}

export interface NdjsonRequestOptions {
  url: string;
  /** Service account name and token, sent as HTTP basic authentication. */
  account: { name: string; token: string };
  method: 'GET' | 'POST';
  /** Path and query, e.g. `/v1/vms/a?watch=true`. */
  path: string;
  body?: unknown;
  /** A keep-alive agent, so that connections stay open between requests as a real client's do. */
  agent: Agent;
}

/** Sends a request and resolves once the answer's head arrived; the body then streams into `lines`. */
export function ndjsonRequest(options: NdjsonRequestOptions): Promise<NdjsonResponse> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const authorization = `Basic ${Buffer.from(`${options.account.name}:${options.account.token}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    let socketClosed: Promise<void> | undefined;
    const req = request(
      `${options.url}${options.path}`,
      {
        method: options.method,
        agent: options.agent,
        headers: {
          authorization,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        const lines: unknown[] = [];
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line !== '') {
              lines.push(JSON.parse(line));
            }
          }
        });
        const ended = new Promise<string>((resolveEnd) => {
          res.once('end', () => {
            // An ordinary JSON answer (an error) has no newline at its end.
            if (pending.trim() !== '') {
              lines.push(JSON.parse(pending));
            }
            resolveEnd('end');
          });
          res.once('error', (err) => resolveEnd(`cut: ${err.message}`));
          res.once('close', () => resolveEnd(res.complete ? 'end' : 'cut: the connection closed'));
        });
        resolve({
          status: res.statusCode ?? 0,
          lines,
          ended,
          connectionClosed: socketClosed ?? Promise.reject(new Error('the request never had a socket')),
        });
      },
    );
    req.once('socket', (socket: Socket) => {
      socketClosed = new Promise((resolveClosed) => socket.once('close', () => resolveClosed()));
    });
    req.once('error', reject);
    req.end(body);
  });
}
