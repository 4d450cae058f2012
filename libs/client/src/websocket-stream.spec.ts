import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { HALF_CLOSE_PROTOCOL, WebSocketClosedError, webSocketStream } from './websocket-stream';

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
    stream.once('close', () => reject(new Error('the stream closed before its end')));
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
    const failed = errorOf(server);
    pair.client.terminate();
    expect(await failed).toMatchObject({ code: 1006, message: 'the WebSocket connection was lost' });
    expect(ended).not.toHaveBeenCalled();
  });

  // Issue 11: the controller closes with 1011 and a reason when it lost the worker; a reader that took that for the
  // end of the data (Orchard's protocol has no other end) would pass a truncated stream on as complete.
  it.each([
    ['half-close', HALF_CLOSE_PROTOCOL],
    ['plain', undefined],
  ])('a 1011 close is an error with its code and reason, not an end of data (%s)', async (_name, protocol) => {
    pair = await webSocketPair(protocol);
    const client = webSocketStream(pair.client);
    const ended = jest.fn();
    client.on('end', ended);
    client.resume();
    const failed = errorOf(client);
    pair.server.send(Buffer.from('part of the data'));
    pair.server.close(1011, 'the connection to the worker was lost');
    const err = await failed;
    expect(err).toBeInstanceOf(WebSocketClosedError);
    expect(err).toMatchObject({ code: 1011, reason: 'the connection to the worker was lost' });
    expect(err.message).toBe('the connection to the worker was lost');
    expect(ended).not.toHaveBeenCalled();
  });

  it('without the half-close protocol, a normal close is the end of the data', async () => {
    pair = await webSocketPair();
    const client = webSocketStream(pair.client);
    const data = collect(client);
    pair.server.send(Buffer.from('all of it'));
    pair.server.close(1000);
    expect((await data).toString()).toBe('all of it');
  });

  it('with the half-close protocol, a normal close before the empty message is an error', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const client = webSocketStream(pair.client);
    client.resume();
    const failed = errorOf(client);
    pair.server.send(Buffer.from('part of the data'));
    pair.server.close(1000);
    expect(await failed).toMatchObject({ code: 1000, message: 'the WebSocket closed before the end of the data' });
  });

  // All of it can arrive in one read of the socket: `ws` parses every frame of the read although the stream asked it
  // to pause, and it resumes the socket itself on the close frame, so 'close' comes while the data waits unread.
  it('with the half-close protocol, data still unread when the close arrives is read to its end', async () => {
    const ws = new FakeWebSocket(HALF_CLOSE_PROTOCOL);
    const stream = webSocketStream(ws as unknown as WebSocket);
    const data = randomBytes(256 * 1024);
    for (let offset = 0; offset < data.length; offset += 16 * 1024) {
      ws.emit('message', data.subarray(offset, offset + 16 * 1024));
    }
    ws.emit('message', Buffer.alloc(0));
    stream.end();
    await new Promise((resolve) => stream.once('finish', resolve));
    ws.closeWith(1000);
    expect((await collect(stream)).equals(data)).toBe(true);
  });

  it('destroying the stream with an error closes the WebSocket with 1011 and the message', async () => {
    pair = await webSocketPair(HALF_CLOSE_PROTOCOL);
    const client = webSocketStream(pair.client);
    client.on('error', () => undefined);
    const closed = new Promise<[number, string]>((resolve) =>
      pair.server.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
    );
    client.destroy(new Error('the local connection failed: read ECONNRESET'));
    expect(await within(closed, 5000)).toEqual([1011, 'the local connection failed: read ECONNRESET']);
  });

  it('a write that meets the close fails with the close reason, not "WebSocket is not open"', async () => {
    pair = await webSocketPair();
    const client = webSocketStream(pair.client);
    const failed = errorOf(client);
    pair.server.close(1011, 'the connection to the worker was lost');
    // Writing on until the close has arrived: some writes find the WebSocket closing.
    while (pair.client.readyState === pair.client.OPEN) {
      client.write(Buffer.alloc(1024));
      await new Promise((resolve) => setImmediate(resolve));
    }
    client.write(Buffer.alloc(1024));
    expect((await failed).message).toBe('the connection to the worker was lost');
  });
});

/** The first error a stream emits. */
function errorOf(stream: Duplex): Promise<WebSocketClosedError> {
  return new Promise((resolve) => stream.once('error', (err: WebSocketClosedError) => resolve(err)));
}

/** Just enough of a `ws` WebSocket to drive the stream's events by hand. */
class FakeWebSocket extends EventEmitter {
  readyState = 1;
  isPaused = false;

  constructor(readonly protocol: string) {
    super();
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
  }

  send(_data: Buffer, callback: (err?: Error) => void): void {
    setImmediate(callback);
  }

  close(): void {
    this.readyState = 2;
  }

  terminate(): void {
    this.closeWith(1006);
  }

  /** The close as `ws` reports it, once the closing handshake is over. */
  closeWith(code: number, reason = ''): void {
    this.readyState = 3;
    this.emit('close', code, Buffer.from(reason));
  }
}
