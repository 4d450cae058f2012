import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ApiError, ControllerConnectionError } from './client.errors';
import { GroveClient } from './grove-client';
import { parseNdjson } from './ndjson';
import { sendJson, startTestServer, type Handler, type TestServer } from './test-support/test-server';

describe('GroveClient over HTTP', () => {
  let server: TestServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(handler: Handler): Promise<TestServer> {
    server = await startTestServer(handler);
    return server;
  }

  it('sends HTTP Basic credentials, its user agent and JSON, and parses the JSON answer', async () => {
    const s = await serve((_req, res, body) => sendJson(res, 200, { ...JSON.parse(body), status: 'pending' }));
    const client = new GroveClient({ url: s.url, serviceAccountName: 'ci', serviceAccountToken: 's3cr:et' });

    const vm = await client.vms.create({ name: 'a', image: 'ghcr.io/x/y:latest', cpu: 2 });

    expect(vm).toEqual({ name: 'a', image: 'ghcr.io/x/y:latest', cpu: 2, status: 'pending' });
    const [req] = s.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/vms');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('ci:s3cr:et').toString('base64')}`);
    expect(req.headers['user-agent']).toMatch(/^Grove\/\d+\.\d+\.\d+/);
    expect(req.headers['content-type']).toBe('application/json');
    client.close();
  });

  it('sends no Authorization header without a service account', async () => {
    const s = await serve((_req, res) => sendJson(res, 200, {}));
    const client = new GroveClient({ url: s.url });
    await client.info();
    expect(s.requests[0].url).toBe('/v1/');
    expect(s.requests[0].headers.authorization).toBeUndefined();
    client.close();
  });

  it('URL-encodes names in paths, keeps a path prefix of the URL and sends the worker filter', async () => {
    const s = await serve((req, res) => sendJson(res, 200, req.url?.includes('/vms?') ? [] : {}));
    const client = new GroveClient({ url: `${s.url}/prefix/` });

    await client.vms.get('a b/c?');
    await client.workers.update('w 1', { name: 'w 1', scheduling_paused: true });
    await client.serviceAccounts.delete('ci#1');
    await client.vms.list({ worker: 'mac-1' });

    expect(s.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /prefix/v1/vms/a%20b%2Fc%3F',
      'PUT /prefix/v1/workers/w%201',
      'DELETE /prefix/v1/service-accounts/ci%231',
      'GET /prefix/v1/vms?filter=worker%3Dmac-1',
    ]);
    expect(JSON.parse(s.requests[1].body)).toEqual({ name: 'w 1', scheduling_paused: true });
    client.close();
  });

  it('asks for gzip and reads a compressed answer as well as a plain one', async () => {
    const vms = [{ name: 'a' }, { name: 'b' }];
    const s = await serve((req, res) => {
      if (req.url?.includes('plain')) {
        sendJson(res, 200, vms);
        return;
      }
      const body = gzipSync(JSON.stringify(vms));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(body);
    });
    const client = new GroveClient({ url: s.url });
    expect(await client.vms.list()).toEqual(vms);
    expect(s.requests[0].headers['accept-encoding']).toBe('gzip');
    expect(await client.vms.list({ worker: 'plain' })).toEqual(vms);
    client.close();
  });

  it('reports a corrupt compressed answer as an error, not as data', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync('[{"name":"a"}]').subarray(0, 12));
    });
    const client = new GroveClient({ url: s.url });
    await expect(client.vms.list()).rejects.toThrow(/the compressed answer is corrupt/);
    client.close();
  });

  it('pages VMs with limit and cursor and hands back X-Next-Cursor', async () => {
    const s = await serve((req, res) =>
      req.url?.includes('cursor=')
        ? sendJson(res, 200, [{ name: 'c' }])
        : sendJson(res, 200, [{ name: 'a' }, { name: 'b' }], { 'x-next-cursor': 'bjpi' }),
    );
    const client = new GroveClient({ url: s.url });
    const first = await client.vms.listPage({ limit: 2, worker: 'w' });
    expect(first).toEqual({ items: [{ name: 'a' }, { name: 'b' }], nextCursor: 'bjpi' });
    const second = await client.vms.listPage({ limit: 2, worker: 'w', cursor: first.nextCursor });
    expect(second).toEqual({ items: [{ name: 'c' }] });
    expect(s.requests.map((r) => r.url)).toEqual([
      '/v1/vms?filter=worker%3Dw&limit=2',
      '/v1/vms?filter=worker%3Dw&limit=2&cursor=bjpi',
    ]);
    client.close();
  });

  it('maps a 400 with field errors to an ApiError that lists every field', async () => {
    const s = await serve((_req, res) =>
      sendJson(res, 400, {
        message: 'VM name is invalid',
        errors: [
          { field: 'name', message: 'contains restricted characters' },
          { field: 'hostDirs[0].path', message: 'must not be empty' },
        ],
      }),
    );
    const client = new GroveClient({ url: s.url });

    const err: unknown = await client.vms.create({ name: 'a%', image: 'x' }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ApiError);
    const apiError = err as ApiError;
    expect(apiError.status).toBe(400);
    expect(apiError.message).toBe('VM name is invalid');
    expect(apiError.errors).toEqual([
      { field: 'name', message: 'contains restricted characters' },
      { field: 'hostDirs[0].path', message: 'must not be empty' },
    ]);
    expect(apiError.userMessage).toBe(
      'controller answered 400: VM name is invalid\n' +
        '  name: contains restricted characters\n' +
        '  hostDirs[0].path: must not be empty',
    );
    client.close();
  });

  it('does not repeat field errors that the message already names', async () => {
    const s = await serve((_req, res) =>
      sendJson(res, 400, {
        message: 'invalid input: image: must not be empty',
        errors: [{ field: 'image', message: 'must not be empty' }],
      }),
    );
    const client = new GroveClient({ url: s.url });
    const err = (await client.vms.create({ name: 'a' }).catch((e: unknown) => e)) as ApiError;
    expect(err.userMessage).toBe('controller answered 400: invalid input: image: must not be empty');
    client.close();
  });

  it('maps bodiless and non-JSON error answers to readable messages', async () => {
    const s = await serve((req, res) => {
      if (req.url?.endsWith('/missing')) {
        res.writeHead(404).end();
      } else {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>\n<body></body>');
      }
    });
    const client = new GroveClient({ url: s.url });

    const notFound = (await client.vms.get('missing').catch((e: unknown) => e)) as ApiError;
    const badGateway = (await client.workers.list().catch((e: unknown) => e)) as ApiError;

    expect(notFound.status).toBe(404);
    expect(notFound.userMessage).toBe('controller answered 404: Not Found');
    expect(badGateway.status).toBe(502);
    expect(badGateway.userMessage).toBe('controller answered 502: <html>Bad Gateway</html>');
    client.close();
  });

  it('carries the Retry-After of an error answer, and none when the controller sent none', async () => {
    const s = await serve((req, res) =>
      req.url?.endsWith('/workers')
        ? sendJson(res, 503, { message: 'the database is unavailable' }, { 'retry-after': '3' })
        : sendJson(res, 500, { message: 'boom' }),
    );
    const client = new GroveClient({ url: s.url });

    const unavailable = (await client.workers.list().catch((e: unknown) => e)) as ApiError;
    const failed = (await client.vms.list().catch((e: unknown) => e)) as ApiError;

    expect(unavailable).toMatchObject({ status: 503, message: 'the database is unavailable', retryAfterSeconds: 3 });
    expect(failed.status).toBe(500);
    expect(failed.retryAfterSeconds).toBeUndefined();
    client.close();
  });

  it('names the URL when the controller cannot be reached', async () => {
    const port = await closedPort();
    const client = new GroveClient({ url: `http://127.0.0.1:${port}` });

    const err = (await client.vms.list().catch((e: unknown) => e)) as ControllerConnectionError;

    expect(err).toBeInstanceOf(ControllerConnectionError);
    expect(err.kind).toBe('unreachable');
    expect(err.message).toBe(
      `cannot reach the controller at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    client.close();
  });

  it('gives up on a request after the timeout', async () => {
    const s = await serve(() => undefined);
    const client = new GroveClient({ url: s.url, timeoutMs: 150 });

    const err = (await client.workers.list().catch((e: unknown) => e)) as ControllerConnectionError;

    expect(err).toBeInstanceOf(ControllerConnectionError);
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`the controller at ${s.url} did not answer within 150 ms`);
    client.close();
  });

  it('follows event cursors and reads the X-Next-Cursor header', async () => {
    const all = Array.from({ length: 5 }, (_, i) => ({ kind: 'log_line', timestamp: 100 + i, payload: `line ${i}` }));
    const s = await serve((req, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      const limit = Number(url.searchParams.get('limit') ?? all.length);
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = all.slice(start, start + limit);
      const next = start + limit < all.length ? { 'x-next-cursor': String(start + limit) } : undefined;
      sendJson(res, 200, page, next);
    });
    const client = new GroveClient({ url: s.url });

    const first = await client.vms.events('vm 1', { limit: 2, order: 'desc' });
    const everything = await client.vms.allEvents('vm 1', { pageSize: 2 });

    expect(first).toEqual({ items: all.slice(0, 2), nextCursor: '2' });
    expect(s.requests[0].url).toBe('/v1/vms/vm%201/events?limit=2&order=desc');
    expect(everything).toEqual(all);
    expect(s.requests.slice(1).map((r) => r.url)).toEqual([
      '/v1/vms/vm%201/events?limit=2&order=asc',
      '/v1/vms/vm%201/events?limit=2&order=asc&cursor=2',
      '/v1/vms/vm%201/events?limit=2&order=asc&cursor=4',
    ]);
    client.close();
  });

  it('posts events and reads a last page without a cursor', async () => {
    const s = await serve((req, res) => (req.method === 'POST' ? res.writeHead(200).end() : sendJson(res, 200, [])));
    const client = new GroveClient({ url: s.url });
    const events = [{ kind: 'log_line' as const, timestamp: 1, payload: 'hello' }];

    await client.vms.appendEvents('a', events);
    const page = await client.vms.events('a');

    expect(JSON.parse(s.requests[0].body)).toEqual(events);
    expect(page).toEqual({ items: [] });
    client.close();
  });
});

describe('VM watch', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('parses NDJSON whose lines and characters are split across chunks', async () => {
    const lines =
      JSON.stringify({ type: 'ADDED', object: { name: 'a', status_message: 'pulling … image' } }) +
      '\n\n' +
      JSON.stringify({ type: 'MODIFIED', object: { name: 'a', status: 'running' } }) +
      '\n' +
      JSON.stringify({ type: 'DELETED', object: { name: 'a' } }) +
      '\n';
    const bytes = Buffer.from(lines, 'utf8');
    server = await startTestServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // Cut into 7-byte chunks: lines and the three-byte '…' straddle chunk boundaries.
      for (let i = 0; i < bytes.length; i += 7) {
        res.write(bytes.subarray(i, i + 7));
      }
      res.end();
    });
    const client = new GroveClient({ url: server.url });

    const messages = [];
    for await (const message of client.vms.watch('a')) {
      messages.push(message);
    }

    expect(server.requests[0].url).toBe('/v1/vms/a?watch=true');
    expect(messages).toEqual([
      { type: 'ADDED', object: { name: 'a', status_message: 'pulling … image' } },
      { type: 'MODIFIED', object: { name: 'a', status: 'running' } },
      { type: 'DELETED', object: { name: 'a' } },
    ]);
    client.close();
  });

  it('has no deadline and ends quietly when the signal aborts', async () => {
    let stream: ServerResponse | undefined;
    server = await startTestServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { name: 'a' } })}\n`);
      stream = res;
    });
    const client = new GroveClient({ url: server.url, timeoutMs: 50 });
    const controller = new AbortController();
    const seen: string[] = [];

    for await (const message of client.vms.watch('a', { signal: controller.signal })) {
      seen.push(message.type);
      if (seen.length === 1) {
        // Longer than the request timeout: a watch must survive it.
        await new Promise((resolve) => setTimeout(resolve, 120));
        stream?.write(`${JSON.stringify({ type: 'MODIFIED', object: { name: 'a' } })}\n`);
      } else {
        controller.abort();
      }
    }

    expect(seen).toEqual(['ADDED', 'MODIFIED']);
    client.close();
  });

  it('throws an ApiError when the watch is refused', async () => {
    server = await startTestServer((_req, res) =>
      sendJson(res, 403, { message: 'all of the following roles must be present: compute:read' }),
    );
    const client = new GroveClient({ url: server.url });

    const iterate = async (): Promise<void> => {
      for await (const _ of client.vms.watch('a')) {
        // nothing arrives
      }
    };

    await expect(iterate()).rejects.toMatchObject({
      status: 403,
      userMessage: 'controller answered 403: all of the following roles must be present: compute:read',
    });
    client.close();
  });
});

describe('parseNdjson', () => {
  const chunks = (...parts: string[]): Readable => Readable.from(parts.map((p) => Buffer.from(p)));

  it('yields a last line without a trailing newline', async () => {
    const values = [];
    for await (const v of parseNdjson(chunks('{"a":1}\n{"a"', ':2}'))) {
      values.push(v);
    }
    expect(values).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('rejects a line that is not JSON, quoting it', async () => {
    const iterate = async (): Promise<void> => {
      for await (const _ of parseNdjson(chunks('{"a":1}\n<html>\n'))) {
        // first value is fine
      }
    };
    await expect(iterate()).rejects.toThrow('the controller sent a stream line that is not JSON: <html>');
  });
});

/** A port on which nothing listens: bound, then closed. */
async function closedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
