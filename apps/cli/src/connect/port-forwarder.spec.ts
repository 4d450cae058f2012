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

function collectUntilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

describe('PortForwarder', () => {
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

  async function listen(openTunnel: (signal: AbortSignal) => Promise<WebSocket>): Promise<PortForwarder> {
    forwarder = await PortForwarder.listen({
      host: '127.0.0.1',
      port: 0,
      label: 'VM "a" port 7',
      openTunnel,
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

  it('closes the local connection quietly when the far end closes normally', async () => {
    server = await startTunnelServer((ws) => ws.close(1000));
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal))).address;
    const socket = await localConnection(port);
    expect((await collectUntilClosed(socket)).length).toBe(0);
    expect(reports).toEqual([]);
  });

  it("delivers the far end's last bytes before its close and reports an abnormal close", async () => {
    server = await startTunnelServer((ws) => {
      ws.send(Buffer.from('last words'));
      ws.close(1011, 'worker lost the VM');
    });
    const url = server.url;
    const { port } = (await listen((signal) => openWebSocket(url, signal))).address;
    const socket = await localConnection(port);
    expect((await collectUntilClosed(socket)).toString()).toBe('last words');
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: worker lost the VM']);
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

  it('close() stops listening and cuts open and opening connections', async () => {
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
    const closed = [collectUntilClosed(open), collectUntilClosed(opening)];

    await pf.close();
    await Promise.all(closed);
    await expect(localConnection(port)).rejects.toThrow('ECONNREFUSED');
    expect(pf.connectionCount).toBe(2);
    expect(reports).toEqual([]);
  });
});
