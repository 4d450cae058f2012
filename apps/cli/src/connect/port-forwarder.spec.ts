import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { HALF_CLOSE_PROTOCOL } from '@grove/client';
import { WebSocket, WebSocketServer } from 'ws';
import { PortForwarder } from './port-forwarder';
import { waitUntil } from '../test-support/wait-until';

/** A WebSocket server on 127.0.0.1 whose sockets `onConnection` serves; the tunnel end of the forwarder. */
async function startTunnelServer(
  onConnection: (ws: WebSocket) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols: Set<string>) => (protocols.has(HALF_CLOSE_PROTOCOL) ? HALF_CLOSE_PROTOCOL : false),
  });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        wss.clients.forEach((ws) => ws.terminate());
        wss.close(() => resolve());
      }),
  };
}

/**
 * Opens a WebSocket and resolves with it paused: messages that arrive with the handshake's answer would otherwise be
 * emitted before the forwarder attaches its listeners (createWebSocketStream resumes it on the first read).
 */
function openWebSocket(url: string, signal: AbortSignal, protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    signal.addEventListener('abort', () => ws.terminate(), { once: true });
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

/** Never opens; rejects when the forwarder gives up (abort). */
function pendingTunnel(signal: AbortSignal): Promise<WebSocket> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
  });
}

function localConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What a local program saw on its connection: the bytes, whether it got an end of data, and its error code. */
interface LocalView {
  data: Buffer;
  sawEnd: boolean;
  error?: string;
}

/**
 * Reads a local connection until it closes and tells how it ended: a clean end (FIN) or an error such as an RST.
 * Watch from the start: a reset may come before the program has even seen its connection open.
 */
function watchLocal(socket: Socket): { received(): number; closed: Promise<LocalView> } {
  const chunks: Buffer[] = [];
  let received = 0;
  let sawEnd = false;
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  socket.once('end', () => (sawEnd = true));
  socket.once('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  return {
    received: () => received,
    closed: new Promise((resolve) =>
      socket.once('close', () => resolve({ data: Buffer.concat(chunks), sawEnd, ...(error ? { error } : {}) })),
    ),
  };
}

function localView(socket: Socket): Promise<LocalView> {
  return watchLocal(socket).closed;
}

/**
 * Connects a local program to the forwarder and has the far end fail once the program has read the far end's first
 * `bytes`: an RST that finds unread data is reported as an end of file by libuv (libuv/libuv#4997), so a Node.js
 * program can only tell a reset from an end when it has read everything, as after a real stall.
 */
async function failAfterReading(
  port: number,
  far: () => WebSocket | undefined,
  bytes: number,
  fail: (ws: WebSocket) => void,
): Promise<LocalView> {
  const app = watchLocal(connect(port, '127.0.0.1'));
  await waitUntil(() => app.received() === bytes);
  fail(far()!);
  return app.closed;
}

/** The code and reason a WebSocket closed with. */
function closeOf(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
  );
}

function collectUntilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

describe('PortForwarder over WebSockets', () => {
  it('carries a half-close both ways with the half-close protocol', async () => {
    // The far end answers once the client has finished sending: the answer needs the client's end to arrive.
    server = await startTunnelServer((ws) => {
      let received = 0;
      ws.on('message', (data: Buffer) => {
        if (data.length > 0) {
          received += data.length;
          return;
        }
        ws.send(Buffer.from(`got ${received} bytes`));
        ws.send(Buffer.alloc(0));
      });
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, [HALF_CLOSE_PROTOCOL]))).address;
    const socket = await localConnection(port);
    const answer = collectUntilClosed(socket);
    socket.end(Buffer.alloc(100_000, 1));
    expect((await answer).toString()).toBe('got 100000 bytes');
  });

  const reports: string[] = [];
  let forwarder: PortForwarder | undefined;
  let server: { url: string; close(): Promise<void> } | undefined;

  /** A forwarder whose tunnels are WebSockets (the path of controllers without the raw protocol). */
  async function listen(openTunnel: (signal: AbortSignal) => Promise<WebSocket>): Promise<PortForwarder> {
    forwarder = await PortForwarder.listen({
      host: '127.0.0.1',
      port: 0,
      label: 'VM "a" port 7',
      openTunnel: async (signal) => ({ kind: 'websocket', ws: await openTunnel(signal) }),
      report: (line) => reports.push(line),
    });
    return forwarder;
  }

  afterEach(async () => {
    await forwarder?.close();
    await server?.close();
    forwarder = undefined;
    server = undefined;
    reports.length = 0;
  });

  it('moves megabytes both ways through a slow reader without losing or reordering bytes', async () => {
    server = await startTunnelServer((ws) => ws.on('message', (data: Buffer) => ws.send(data)));
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal))).address;
    const socket = await localConnection(port);
    const data = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        // Reading in bursts keeps the local socket's buffers full, so backpressure has to hold the tunnel back.
        socket.pause();
        setTimeout(() => socket.resume(), 1);
        if (received >= data.length) {
          resolve();
        }
      });
    });
    socket.write(data);
    await done;
    socket.end();
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(reports).toEqual([]);
  });

  it('closes the local connection quietly (FIN) when the far end closes normally', async () => {
    server = await startTunnelServer((ws) => {
      ws.send(Buffer.from('all of it'));
      ws.close(1000);
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal))).address;
    expect(await localView(await localConnection(port))).toEqual({ data: Buffer.from('all of it'), sawEnd: true });
    expect(reports).toEqual([]);
  });

  // Issue 11: the controller closes with 1011 and a reason when it lost the worker mid-session; a program that got a
  // plain end of file would take the bytes it had for the whole answer.
  it.each([
    ['the half-close protocol', [HALF_CLOSE_PROTOCOL]],
    ["Orchard's plain protocol", []],
  ])('resets the local connection (RST) when the far end closes with 1011, with %s', async (_name, protocols) => {
    let far: WebSocket | undefined;
    server = await startTunnelServer((ws) => {
      far = ws;
      ws.send(Buffer.alloc(64 * 1024, 1));
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, protocols))).address;
    const view = await failAfterReading(
      port,
      () => far,
      64 * 1024,
      (ws) => ws.close(1011, 'the connection to the worker was lost'),
    );
    expect(view).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: the connection to the worker was lost']);
  });

  it('resets the local connection when the connection to the controller is lost (1006)', async () => {
    let far: WebSocket | undefined;
    server = await startTunnelServer((ws) => {
      far = ws;
      ws.send(Buffer.alloc(64 * 1024, 1));
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, [HALF_CLOSE_PROTOCOL]))).address;
    const view = await failAfterReading(
      port,
      () => far,
      64 * 1024,
      (ws) => ws.terminate(),
    );
    expect(view).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: the WebSocket connection was lost']);
  });

  it('with the half-close protocol, resets the local connection when the far end closes before its end', async () => {
    let far: WebSocket | undefined;
    server = await startTunnelServer((ws) => {
      far = ws;
      ws.send(Buffer.from('part'));
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, [HALF_CLOSE_PROTOCOL]))).address;
    const view = await failAfterReading(
      port,
      () => far,
      4,
      (ws) => ws.close(1000),
    );
    expect(view).toEqual({ data: Buffer.from('part'), sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: the WebSocket closed before the end of the data']);
  });

  it('resets a local connection whose far end ended its direction and then failed', async () => {
    // The far end's answer is complete (its empty message: a FIN), then the upload the local program still sends
    // cannot be delivered. The reset reaches a program that already read its end of data when it writes next.
    server = await startTunnelServer((ws) => {
      ws.send(Buffer.from('answer'));
      ws.send(Buffer.alloc(0));
      ws.once('message', () => ws.close(1011, 'the worker lost the VM'));
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, [HALF_CLOSE_PROTOCOL]))).address;
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const view = localView(socket);
    await once(socket, 'end');
    socket.write('more');
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: the worker lost the VM']);
    const writing = setInterval(() => socket.write('more'), 10);
    try {
      // EPIPE: Linux's name for a reset that comes after the peer's FIN.
      expect(await view).toEqual({
        data: Buffer.from('answer'),
        sawEnd: true,
        error: expect.stringMatching(/^(EPIPE|ECONNRESET)$/),
      });
    } finally {
      clearInterval(writing);
    }
  });

  it('closes the tunnel with 1011 when the local program resets its connection', async () => {
    let closed: Promise<[number, string]> | undefined;
    server = await startTunnelServer((ws) => {
      closed = closeOf(ws);
      ws.on('message', (data: Buffer) => ws.send(data));
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal, [HALF_CLOSE_PROTOCOL]))).address;
    const socket = await localConnection(port);
    socket.write('x');
    await once(socket, 'data');
    socket.resetAndDestroy();
    await waitUntil(() => closed !== undefined);
    const [code, reason] = await closed!;
    expect(code).toBe(1011);
    expect(reason).toMatch(/^the local connection failed: /);
    expect(reports).toEqual([]);
  });

  it('resets the local connection when its tunnel cannot be opened, and reports why', async () => {
    const { port } = (await listen(() => Promise.reject(new Error('controller answered 503: cannot reach worker "w"'))))
      .address;
    expect(await localView(connect(port, '127.0.0.1'))).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: controller answered 503: cannot reach worker "w"']);
  });

  it('abandons a tunnel still opening when the local client leaves, without a report', async () => {
    const signals: AbortSignal[] = [];
    const { port } = (
      await listen((signal) => {
        signals.push(signal);
        return pendingTunnel(signal);
      })
    ).address;
    const socket = await localConnection(port);
    await waitUntil(() => signals.length === 1);
    socket.destroy();
    await waitUntil(() => signals[0].aborted);
    expect(reports).toEqual([]);
  });

  it('close() stops listening and resets open and opening connections', async () => {
    server = await startTunnelServer((ws) => ws.on('message', (data: Buffer) => ws.send(data)));
    const url = server.url;
    let calls = 0;
    const pf = await listen((signal) => (++calls === 1 ? openWebSocket(url, signal) : pendingTunnel(signal)));
    const { port } = pf.address;
    const open = await localConnection(port);
    open.write('x');
    await once(open, 'data');
    const opening = await localConnection(port);
    await waitUntil(() => calls === 2);
    const views = [localView(open), localView(opening)];

    await pf.close();
    // Forwarding stopped mid-session: neither program may take it for an end of data.
    expect(await Promise.all(views)).toEqual([
      { data: Buffer.alloc(0), sawEnd: false, error: 'ECONNRESET' },
      { data: Buffer.alloc(0), sawEnd: false, error: 'ECONNRESET' },
    ]);
    await expect(localConnection(port)).rejects.toThrow('ECONNREFUSED');
    expect(pf.connectionCount).toBe(2);
    expect(reports).toEqual([]);
  });
});
