import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { startDelayProxy, type DelayProxy } from './delay-proxy';

const HOST = '127.0.0.1';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as { port: number }).port;
}

async function closeServer(server: Server): Promise<void> {
  await new Promise((resolve) => server.close(resolve));
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port, allowHalfOpen: true, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve).once('error', reject);
  });
  return socket;
}

/** Resolves with everything `socket` sends until its 'end'. */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks))).once('error', reject);
  });
}

async function until(what: string, condition: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('startDelayProxy', () => {
  const servers: Server[] = [];
  const proxies: DelayProxy[] = [];
  const sockets: Socket[] = [];

  /** Tracks a target server and the sockets it accepts, so afterEach can tear everything down. */
  function track(server: Server): Server {
    server.on('connection', (socket: Socket) => sockets.push(socket));
    servers.push(server);
    return server;
  }

  /** An echo server that also sends `trailer` after the client half-closes, and counts the 'end's it saw. */
  async function echoTarget(trailer = ''): Promise<{ port: number; ends: () => number }> {
    let ends = 0;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.once('end', () => {
        ends++;
        socket.end(trailer);
      });
      socket.on('error', () => undefined);
    });
    track(server);
    return { port: await listen(server), ends: () => ends };
  }

  async function proxyTo(port: number, delayMs: number): Promise<DelayProxy> {
    const proxy = await startDelayProxy({ target: { host: HOST, port }, delayMs });
    proxies.push(proxy);
    return proxy;
  }

  async function client(port: number): Promise<Socket> {
    const socket = await dial(port);
    sockets.push(socket);
    return socket;
  }

  afterEach(async () => {
    for (const socket of sockets.splice(0)) {
      socket.destroy();
    }
    for (const proxy of proxies.splice(0)) {
      await proxy.close();
    }
    for (const server of servers.splice(0)) {
      await closeServer(server);
    }
  });

  it('listens on loopback by default and forwards 8 MiB byte-exact in both directions', async () => {
    const target = await echoTarget();
    const proxy = await proxyTo(target.port, 5);
    expect(proxy.host).toBe(HOST);
    const data = randomBytes(8 * 1024 * 1024);
    const socket = await client(proxy.port);
    const echoed = readAll(socket);
    socket.end(data);
    const received = await echoed;
    expect(received.length).toBe(data.length);
    expect(received.equals(data)).toBe(true);
  });

  it('delays each direction, so a 1-byte round trip takes at least twice the delay', async () => {
    const delayMs = 10;
    const target = await echoTarget();
    const proxy = await proxyTo(target.port, delayMs);
    const socket = await client(proxy.port);
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint();
      const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write(Buffer.from([i]));
      expect(await reply).toEqual(Buffer.from([i]));
      const rttMs = Number(process.hrtime.bigint() - started) / 1e6;
      expect(rttMs).toBeGreaterThanOrEqual(2 * delayMs - 1);
    }
  });

  it('forwards a half-close after the data queued before it, and the answer after that', async () => {
    const target = await echoTarget(' and goodbye');
    const proxy = await proxyTo(target.port, 5);
    const socket = await client(proxy.port);
    const received = readAll(socket);
    socket.end('hello');
    expect((await received).toString()).toBe('hello and goodbye');
    expect(target.ends()).toBe(1);
    await until('the proxied connection to close', () => proxy.connections() === 0);
  });

  it('resets the client when the target resets the connection', async () => {
    const server = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    track(server);
    const proxy = await proxyTo(await listen(server), 1);
    const socket = await client(proxy.port);
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    socket.write('x');
    expect((await failed).code).toBe('ECONNRESET');
    await until('the proxied connection to close', () => proxy.connections() === 0);
  });

  it('closes the client when the target refuses the connection', async () => {
    const server = createServer();
    const port = await listen(server);
    await closeServer(server);
    const proxy = await proxyTo(port, 1);
    const socket = await client(proxy.port);
    await new Promise((resolve) => socket.once('close', resolve).on('error', () => undefined));
    await until('the proxied connection to close', () => proxy.connections() === 0);
  });

  it('stops reading from the client while the target does not read, and delivers everything once it does', async () => {
    let targetSocket: Socket | undefined;
    let targetBytes = 0;
    let targetEnded = false;
    const server = createServer((socket) => {
      targetSocket = socket.pause();
      socket.on('data', (chunk: Buffer) => (targetBytes += chunk.length));
      socket.once('end', () => (targetEnded = true));
    });
    track(server);
    const proxy = await proxyTo(await listen(server), 1);
    const socket = await client(proxy.port);
    const chunk = Buffer.alloc(64 * 1024, 7);
    const limit = 192 * 1024 * 1024;
    let written = 0;
    let stalled = false;
    // Write until the client cannot write any more: without backpressure the proxy would take it all.
    while (written < limit && !stalled) {
      written += chunk.length;
      if (!socket.write(chunk)) {
        stalled = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), 250);
          socket.once('drain', () => {
            clearTimeout(timer);
            resolve(false);
          });
        });
      }
    }
    expect(stalled).toBe(true);
    expect(written).toBeLessThan(limit);
    expect(targetBytes).toBe(0);
    targetSocket?.resume();
    socket.end();
    await until('the target to receive everything', () => targetEnded, 1_500);
    expect(targetBytes).toBe(written);
  });

  it('close() destroys every connection and stops accepting', async () => {
    const target = await echoTarget();
    const proxy = await startDelayProxy({ target: { host: HOST, port: target.port }, delayMs: 50 });
    const clients = await Promise.all([client(proxy.port), client(proxy.port), client(proxy.port)]);
    // The clients allow half-open connections, so the proxy's FIN shows as 'end' (or 'error' if it was a reset).
    const ended = clients.map((socket) => new Promise((resolve) => socket.once('end', resolve).once('error', resolve)));
    // Data still in the delay queue when the proxy closes must not keep a timer alive.
    clients[0].write('queued');
    await until('three proxied connections', () => proxy.connections() === 3);
    await proxy.close();
    expect(proxy.connections()).toBe(0);
    await Promise.all(ended);
    await expect(dial(proxy.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
