import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { useLargeReads } from './large-reads';
import { SocketSplice, type SpliceSide } from './socket-splice';
import type { TunnelOutcome } from './tunnel-endpoint';
import { readAll } from '@grove/testing';

const MiB = 1024 * 1024;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * A relay like the controller's: the test's user connects to it, it connects to the target, and a SocketSplice joins
 * the two accepted/connected sockets (both switched to large reads). Resolves the outcomes of its sessions.
 */
async function startRelay(
  target: (socket: Socket) => void,
  sides: { a?: Partial<SpliceSide>; b?: Partial<SpliceSide> } = {},
) {
  const targetServer = createServer({ allowHalfOpen: true }, (socket) => {
    // Resets are what several tests cause; each test reads them where it cares.
    socket.on('error', () => undefined);
    target(socket);
  });
  const targetPort = await listen(targetServer);
  const splices: SocketSplice[] = [];
  const outcomes: Promise<TunnelOutcome>[] = [];
  const relay = createServer({ allowHalfOpen: true }, (user) => {
    const upstream = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    const splice = new SocketSplice(
      { stream: user, lostMessage: 'the user went away', ...sides.a },
      { stream: upstream, lostMessage: 'the target went away', ...sides.b },
    );
    splices.push(splice);
    outcomes.push(splice.done);
  });
  const port = await listen(relay);
  return {
    port,
    splices,
    outcomes,
    stop: async () => {
      relay.close();
      targetServer.close();
      await Promise.all(outcomes);
    },
  };
}

const echo = (socket: Socket) => socket.pipe(socket);

describe('SocketSplice', () => {
  it('carries bytes both ways byte-exact and reports what it moved', async () => {
    const relay = await startRelay(echo);
    const user = await dial(relay.port);
    const data = randomBytes(8 * MiB + 123);
    const back = readAll(user);
    user.end(data);
    expect((await back).equals(data)).toBe(true);
    await expect(relay.outcomes[0]).resolves.toEqual({
      result: 'closed',
      bytesSent: data.length,
      bytesReceived: data.length,
    });
    await relay.stop();
  });

  it('writes to a side with readAfter at once, and reads it only once readAfter resolved', async () => {
    // The target greets first; the relay holds the greeting back until the upstream is "answered".
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const relay = await startRelay(
      (socket) => {
        socket.write('greeting;');
        socket.pipe(socket);
      },
      { b: { readAfter: answered } },
    );
    const user = await dial(relay.port);
    const seen: Buffer[] = [];
    user.on('data', (chunk: Buffer) => seen.push(chunk));
    const back = readAll(user);
    user.write('early;');
    // The user's bytes reached the target (its echo is waiting, unread, at the relay), yet nothing came back.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(relay.splices[0].bytesSent).toBe('early;'.length);
    expect(seen).toEqual([]);
    answer();
    user.end();
    expect((await back).toString()).toBe('greeting;early;');
    await relay.stop();
  });

  it('passes a half-close on: the target answers after the user stopped writing', async () => {
    // The target reads to the end, then answers with how much it got.
    const relay = await startRelay((socket) => {
      let count = 0;
      socket.on('data', (chunk: Buffer) => (count += chunk.length));
      socket.once('end', () => socket.end(`got ${count}`));
    });
    const user = await dial(relay.port);
    const answer = readAll(user);
    user.end(randomBytes(300_000));
    expect((await answer).toString()).toBe('got 300000');
    await expect(relay.outcomes[0]).resolves.toMatchObject({ result: 'closed' });
    await relay.stop();
  });

  it("calls beforeEnd of the side it ends, before that side's FIN leaves", async () => {
    const events: string[] = [];
    const relay = await startRelay((socket) => socket.end('bye'), {
      a: { beforeEnd: () => events.push('beforeEnd') },
    });
    const user = await dial(relay.port);
    user.once('end', () => events.push('user saw the end'));
    const back = readAll(user);
    user.end();
    expect((await back).toString()).toBe('bye');
    expect(events).toEqual(['beforeEnd', 'user saw the end']);
    await relay.stop();
  });

  it('passes a reset on: a target that resets makes the user see a reset, not an end', async () => {
    const relay = await startRelay((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const user = await dial(relay.port);
    const read = readAll(user);
    user.write('hello');
    await expect(read).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(relay.outcomes[0]).resolves.toMatchObject({ result: 'error', failedBy: 'link' });
    await relay.stop();
  });

  it('closes a target it had already ended when the session then fails (a reset is refused after a FIN)', async () => {
    // The target writes without end and never reads; the user ends its side, then goes away while the target still
    // has data queued: the relay must not leave the target's connection open (blocked on its writes) forever.
    let targetClosed!: Promise<void>;
    const relay = await startRelay((socket) => {
      targetClosed = new Promise((resolve) => socket.once('close', () => resolve()));
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk)) {
          // Until the socket buffers are full.
        }
        if (!socket.destroyed) {
          socket.once('drain', pump);
        }
      };
      pump();
    });
    const user = await dial(relay.port);
    user.on('error', () => undefined);
    user.once('data', () => {
      user.pause();
      user.end();
      setTimeout(() => user.destroy(), 100);
    });
    await expect(relay.outcomes[0]).resolves.toMatchObject({ result: 'error' });
    await targetClosed;
    await relay.stop();
  });

  it('abort() resets both sides with the reason in the outcome', async () => {
    const targetSide: Promise<Buffer>[] = [];
    const relay = await startRelay((socket) => targetSide.push(readAll(socket)));
    const user = await dial(relay.port);
    const read = readAll(user);
    user.write('x');
    await new Promise((resolve) => setTimeout(resolve, 50));
    relay.splices[0].abort('the controller is shutting down');
    await expect(read).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(targetSide[0]).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(relay.outcomes[0]).resolves.toMatchObject({
      result: 'error',
      error: 'the controller is shutting down',
    });
    await relay.stop();
  });

  it("turns an end that confirmEnd does not confirm into a failure (a killed peer's FIN)", async () => {
    const relay = await startRelay((socket) => socket.end('partial'), {
      b: { confirmEnd: () => Promise.resolve(false) },
    });
    const user = await dial(relay.port);
    const read = readAll(user);
    await expect(read).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(relay.outcomes[0]).resolves.toMatchObject({ result: 'error', error: 'the target went away' });
    await relay.stop();
  });

  it('ends the session when a side that cannot half-close ends (a WebSocket without the half-close protocol)', async () => {
    const targetInputEnded: Promise<unknown>[] = [];
    const relay = await startRelay(
      (socket) => {
        // Never ends by itself: only the session's end ends its input.
        socket.resume();
        socket.on('error', () => undefined);
        targetInputEnded.push(new Promise((resolve) => socket.once('end', resolve)));
      },
      { a: { halfClose: false } },
    );
    const user = await dial(relay.port);
    user.resume();
    user.end('bye');
    await expect(relay.outcomes[0]).resolves.toMatchObject({ result: 'closed', bytesSent: 3 });
    await targetInputEnded[0];
    await relay.stop();
  });

  it('holds a reader that stops: the writer meets backpressure and nothing piles up in the relay', async () => {
    let written = 0;
    let stalled = false;
    const relay = await startRelay((socket) => {
      const chunk = randomBytes(64 * 1024);
      const pump = () => {
        while (written < 512 * MiB) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            stalled = true;
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
      socket.on('error', () => undefined);
    });
    const user = await dial(relay.port);
    user.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = written;
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Stood still: the kernel buffers and the relay's one or two reads in flight are all it holds.
    expect(stalled).toBe(true);
    expect(written).toBe(before);
    expect(written).toBeLessThan(64 * MiB);
    // And flows again once the user reads.
    let received = 0;
    user.on('data', (c: Buffer) => (received += c.length));
    user.resume();
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (received > before + 16 * MiB) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    user.destroy();
    await relay.outcomes[0];
    await relay.stop();
  });
});

describe('SocketSplice with a side that ended before it started', () => {
  it('passes the end on: the far side sees the FIN and its answer still comes back', async () => {
    // The target echoes, then ends once the user's end reached it.
    const targetServer = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
    const targetPort = await listen(targetServer);
    const userServer = createServer({ allowHalfOpen: true });
    const userPort = await listen(userServer);
    const accepted = new Promise<Socket>((resolve) => userServer.once('connection', resolve));
    const user = await dial(userPort);
    const relayed = await accepted;
    const target = await dial(targetPort);
    try {
      // The user half-closes, and the relay's side of it emits its end before anybody set the splice up.
      user.end();
      relayed.resume();
      await new Promise((resolve) => relayed.once('end', resolve));
      relayed.pause();
      const splice = new SocketSplice(
        { stream: relayed, lostMessage: 'the user went away' },
        { stream: target, lostMessage: 'the target went away' },
      );
      const back = readAll(user);
      await expect(splice.done).resolves.toMatchObject({ result: 'closed', bytesSent: 0, bytesReceived: 0 });
      expect((await back).length).toBe(0);
    } finally {
      for (const socket of [user, relayed, target]) {
        socket.destroy();
      }
      targetServer.close();
      userServer.close();
    }
  }, 5_000);
});

describe('useLargeReads', () => {
  it('switches an accepted socket to reused buffers and delivers every byte in order, buffered ones first', async () => {
    const data = randomBytes(4 * MiB);
    const received: Buffer[] = [];
    let switched = false;
    const done = new Promise<void>((resolve) => {
      const server = createServer((socket) => {
        // Some bytes arrive before the switch and sit in the socket's buffer.
        setTimeout(() => {
          switched = useLargeReads(socket, (chunk, release) => {
            received.push(Buffer.from(chunk));
            release();
            return true;
          });
          socket.once('end', () => {
            server.close();
            resolve();
          });
          socket.resume();
        }, 50);
      });
      void listen(server).then(async (port) => (await dial(port)).end(data));
    });
    await done;
    expect(switched).toBe(true);
    expect(Buffer.concat(received).equals(data)).toBe(true);
    // Reads of a bulk stream grow beyond the 64 KiB a socket reads by default.
    expect(Math.max(...received.map((b) => b.length))).toBeGreaterThan(64 * 1024);
  });
});

describe('useLargeReads on a bulk stream', () => {
  it('reads at most one buffer per turn of the event loop while more is waiting, so other sockets get their turn', async () => {
    const data = randomBytes(16 * MiB);
    const received: Buffer[] = [];
    /** Chunks read per turn of the event loop, counted from the switch on. */
    const perTurn = new Map<number, number>();
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) {
        setImmediate(tick);
      }
    };
    const done = new Promise<void>((resolve) => {
      const server = createServer((socket) => {
        // The sender fills the socket buffers first: every read after the switch finds its buffer's worth waiting.
        setTimeout(() => {
          useLargeReads(socket, (chunk, release) => {
            received.push(Buffer.from(chunk));
            perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
            release();
            return true;
          });
          perTurn.clear();
          turn = 1;
          setImmediate(tick);
          socket.once('end', () => {
            ticking = false;
            server.close();
            resolve();
          });
        }, 200);
      });
      void listen(server).then(async (port) => (await dial(port)).end(data));
    });
    await done;
    expect(Buffer.concat(received).equals(data)).toBe(true);
    expect(perTurn.size).toBeGreaterThan(4);
    expect(Math.max(...perTurn.values())).toBe(1);
  });
});
