import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { HALF_CLOSE_PROTOCOL, webSocketStream } from './websocket-stream';

/** A connected pair of WebSockets on loopback: `server` as the controller holds it, `client` as a user's. */
async function webSocketPair(protocol?: string): Promise<{
  server: WebSocket;
  client: WebSocket;
  serverClosed: Promise<number>;
  clientClosed: Promise<number>;
  close(): void;
}> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols: Set<string>) => (protocols.has(HALF_CLOSE_PROTOCOL) ? HALF_CLOSE_PROTOCOL : false),
  });
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, protocol ? [protocol] : []);
  await once(client, 'open');
  const [server] = await accepted;
  return {
    server,
    client,
    serverClosed: closeCode(server),
    clientClosed: closeCode(client),
    close: () => {
      client.terminate();
      server.terminate();
      wss.close();
    },
  };
}

function collect(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** The close code each side of the pair saw, once it saw it. */
function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
}

/** `promise`'s value, or null when it takes longer than `ms` (ws's own close timeout is 30 s). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Sends messages until the receiving stream has stopped reading the WebSocket (it paused it). */
async function fillUntilPaused(sender: WebSocket, receiver: WebSocket): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 1);
  for (let i = 0; i < 200 && !receiver.isPaused; i++) {
    sender.send(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(receiver.isPaused).toBe(true);
}

describe('webSocketStream', () => {
  let pair: Awaited<ReturnType<typeof webSocketPair>>;
  afterEach(() => pair.close());

  it('carries half-close: each direction ends on its own with an empty message', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const server = webSocketStream(pair.server);
    const client = webSocketStream(pair.client);
    const atServer = collect(server);
    client.end('request');
    expect((await atServer).toString()).toBe('request');
    // The server's direction is still open after the client's end.
    const atClient = collect(client);
    server.end('answer');
    expect((await atClient).toString()).toBe('answer');
  });

  it('without the half-close protocol, the end of one direction closes the WebSocket', async () => {
    pair = await webSocketPair();
    expect(pair.client.protocol).toBe('');
    const server = webSocketStream(pair.server);
    const atServer = collect(server);
    webSocketStream(pair.client).end('bye');
    expect((await atServer).toString()).toBe('bye');
    expect(await within(pair.serverClosed, 5000)).toBe(1000);
  });

  it('a stream destroyed while it had stopped reading still completes the close handshake', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const server = webSocketStream(pair.server);
    server.pause();
    await fillUntilPaused(pair.client, pair.server);
    server.destroy();
    // Without reading on, the peer's close frame would wait behind the unread data until ws's 30 s close timeout.
    expect(await within(pair.serverClosed, 5000)).toBe(1000);
    expect(await within(pair.clientClosed, 5000)).toBe(1000);
  });

  it('ending a stream that had stopped reading closes the socket (no CLOSE-WAIT behind unread data)', async () => {
    pair = await webSocketPair();
    const server = webSocketStream(pair.server);
    server.pause();
    await fillUntilPaused(pair.client, pair.server);
    server.end();
    expect(await within(pair.serverClosed, 5000)).toBe(1000);
  });

  it('cuts off a peer that never answers the close frame', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const server = webSocketStream(pair.server);
    // The client's socket stops reading altogether: no close frame will come back.
    (pair.client as unknown as { _socket: { pause(): void } })._socket.pause();
    pair.client.pause();
    server.destroy();
    expect(await within(pair.serverClosed, 5000)).toBe(1006);
  });

  it('an abrupt close of a half-close session is an error for the reader, not an end of data', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const server = webSocketStream(pair.server);
    const ended = jest.fn();
    server.on('end', ended);
    server.resume();
    pair.client.terminate();
    await once(server, 'close');
    expect(ended).not.toHaveBeenCalled();
  });
});
