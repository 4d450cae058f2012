import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type Client,
  type ClientDuplexStream,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { workerServiceClient, workerServiceDefinition, type TunnelFrame } from '@grove/proto';
import { enlargeServerWindows, GRPC_CLIENT_FLOW_CONTROL } from './grpc-flow-control';
import { TunnelEndpoint, type TunnelOutcome } from './tunnel-endpoint';

type ServerCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;
type ClientCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/**
 * A controller and a worker in one process: a grpc-js server whose Tunnel calls become the "controller" end of a
 * session (its local stream is a TCP connection from the test, the user), and a grpc-js client whose calls are the
 * "worker" end (its local stream is a connection to a target server). Everything real but the processes.
 */
async function startRig(target: (socket: Socket) => void) {
  const targetServer = createServer({ allowHalfOpen: true }, target);
  const targetPort = await listen(targetServer);
  const calls: ServerCall[] = [];
  const waiting: ((call: ServerCall) => void)[] = [];
  const server = new Server();
  enlargeServerWindows(server);
  server.addService(workerServiceDefinition(), {
    Session: () => undefined,
    Tunnel: (call: ServerCall) => {
      const waiter = waiting.shift();
      if (waiter) {
        waiter(call);
      } else {
        calls.push(call);
      }
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  const ClientClass = workerServiceClient();
  const client = new ClientClass(
    `127.0.0.1:${grpcPort}`,
    credentials.createInsecure(),
    GRPC_CLIENT_FLOW_CONTROL,
  ) as unknown as Client & {
    Tunnel(metadata: Metadata): ClientCall;
  };
  const outcomes: Promise<TunnelOutcome>[] = [];

  // The worker side: every tunnel waits for its open frame, dials the target, then runs an endpoint.
  const openTunnel = () => {
    const call = client.Tunnel(new Metadata());
    call.once('data', (frame: TunnelFrame | undefined) => {
      call.pause();
      if (frame?.kind !== 'open') {
        return;
      }
      const socket = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, noDelay: true });
      socket.once('connect', () => {
        outcomes.push(new TunnelEndpoint({ link: call, local: socket, halfClose: true, minRttMs: () => 0.1 }).done);
      });
    });
  };

  // The controller side: a user connection takes the next tunnel.
  const userServer = createServer({ allowHalfOpen: true }, (user) => {
    user.pause();
    openTunnel();
    const take = (call: ServerCall) => {
      call.write({ kind: 'open', session: 's', vmUid: 'vm', port: 7 });
      outcomes.push(new TunnelEndpoint({ link: call, local: user, halfClose: true, minRttMs: () => 0.1 }).done);
    };
    const parked = calls.shift();
    if (parked) {
      take(parked);
    } else {
      waiting.push(take);
    }
  });
  const userPort = await listen(userServer);
  return {
    dial: () => connect({ host: '127.0.0.1', port: userPort, allowHalfOpen: true, noDelay: true }),
    outcomes,
    /** Cuts the link between the two ends, as a dead worker connection does: every call is cancelled. */
    cutLink: () => server.forceShutdown(),
    async close() {
      client.close();
      server.forceShutdown();
      await new Promise((resolve) => userServer.close(resolve));
      await new Promise((resolve) => targetServer.close(resolve));
    },
  };
}

function echo(socket: Socket): void {
  socket.pipe(socket);
}

/** Writes `data`, half-closes, and collects everything until the far end closes. */
function exchange(socket: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.end(data);
  });
}

describe('TunnelEndpoint over grpc-js', () => {
  it('echoes 50 concurrent sessions of 1 MiB byte-exact, with half-close, and both ends report the bytes', async () => {
    const rig = await startRig(echo);
    try {
      const inputs = Array.from({ length: 50 }, () => randomBytes(1024 * 1024));
      const outputs = await Promise.all(inputs.map((data) => exchange(rig.dial(), data)));
      outputs.forEach((out, i) => expect(out.equals(inputs[i])).toBe(true));
      const outcomes = await Promise.all(rig.outcomes);
      expect(outcomes).toHaveLength(100);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({ result: 'closed', bytesSent: 1024 * 1024, bytesReceived: 1024 * 1024 });
      }
    } finally {
      await rig.close();
    }
  });

  it('carries a half-close: the target answers after the user stopped writing', async () => {
    // The target reads everything, then writes its length and closes: needs the user's FIN to arrive.
    const rig = await startRig((socket) => {
      let n = 0;
      socket.on('data', (chunk: Buffer) => (n += chunk.length));
      socket.once('end', () => socket.end(`got ${n}`));
    });
    try {
      expect((await exchange(rig.dial(), randomBytes(300_000))).toString()).toBe('got 300000');
    } finally {
      await rig.close();
    }
  });

  it('reports an error frame when the target resets the connection', async () => {
    const rig = await startRig((socket) => socket.once('data', () => socket.resetAndDestroy()));
    try {
      const user = rig.dial();
      user.on('error', () => undefined);
      user.write('hello');
      await new Promise((resolve) => user.once('close', resolve));
      const outcomes = await Promise.all(rig.outcomes);
      expect(outcomes.map((o) => o.result)).toEqual(['error', 'error']);
      expect(outcomes.map((o) => o.error)).toEqual([
        expect.stringMatching(/ECONNRESET/),
        expect.stringMatching(/ECONNRESET/),
      ]);
    } finally {
      await rig.close();
    }
  });

  // Issue 11: a user program must never take a broken session for a complete one. The link breaks once the user has
  // read what was sent: an RST that finds unread data is reported as an end of file by libuv (libuv/libuv#4997), so a
  // Node.js reader could not tell the two apart otherwise.
  it('resets both TCP ends (RST, not FIN) when the link is lost in the middle of a download', async () => {
    const sent = 1024 * 1024;
    let target: Socket | undefined;
    const rig = await startRig((socket) => {
      target = socket;
      socket.write(Buffer.alloc(sent, 7));
    });
    try {
      const user = rig.dial();
      let received = 0;
      user.on('data', (data: Buffer) => (received += data.length));
      const userEnd = howItEnds(user);
      await waitFor(() => received === sent && target !== undefined);
      // The target reads, so that it notices the reset.
      const targetEnd = howItEnds(target!.resume());

      rig.cutLink();
      expect(await userEnd).toBe('ECONNRESET');
      expect(await targetEnd).toBe('ECONNRESET');
      const outcomes = await Promise.all(rig.outcomes);
      expect(outcomes.map((o) => [o.result, o.failedBy])).toEqual([
        ['error', 'link'],
        ['error', 'link'],
      ]);
    } finally {
      await rig.close();
    }
  });
});

/** How a connection ends: `end` (a FIN) or its error code (ECONNRESET for an RST). */
function howItEnds(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Polls `condition` every 5 ms for up to 5 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met within 5 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('TunnelEndpoint data frames', () => {
  /** A frame link whose writes are recorded; `blocked` makes write() ask the sender to wait for 'drain'. */
  function fakeLink() {
    const link = new PassThrough({ objectMode: true }) as PassThrough & { sent: TunnelFrame[]; blocked: boolean };
    link.sent = [];
    link.blocked = false;
    link.write = ((frame: TunnelFrame) => {
      link.sent.push(frame);
      return !link.blocked;
    }) as PassThrough['write'];
    return link;
  }
  const dataFrames = (frames: TunnelFrame[]) =>
    frames.flatMap((frame) => (frame.kind === 'data' ? [frame.data.toString()] : []));

  it('sends a chunk that arrives alone at once, in a frame of its own', () => {
    const link = fakeLink();
    const local = new PassThrough();
    new TunnelEndpoint({ link, local, halfClose: true });
    local.write('a');
    local.write('bc');
    expect(dataFrames(link.sent)).toEqual(['a', 'bc']);
  });

  it('passes on an end that came before the endpoint was set up (a client that half-closed while it waited)', async () => {
    const link = fakeLink();
    const local = new PassThrough();
    local.end();
    local.resume();
    await new Promise((resolve) => local.once('end', resolve));
    new TunnelEndpoint({ link, local, halfClose: true });
    await new Promise((resolve) => process.nextTick(resolve));
    expect(link.sent.map((frame) => frame.kind)).toEqual(['closeWrite']);
  });

  it('merges small chunks that arrived while the link was blocked into one frame, byte-exact and in order', () => {
    const link = fakeLink();
    const local = new PassThrough();
    new TunnelEndpoint({ link, local, halfClose: true });
    link.blocked = true;
    local.write('first');
    // A WebSocket stream still emits the messages it had parsed when it was paused: they queue in the endpoint.
    const big = Buffer.alloc(20 * 1024, 'x');
    for (const chunk of ['a', 'b', 'c', 'd', big, 'e'].map((piece) => Buffer.from(piece))) {
      local.emit('data', chunk);
    }
    expect(dataFrames(link.sent)).toEqual(['first']);
    link.blocked = false;
    link.emit('drain');
    const sent = dataFrames(link.sent);
    expect(sent.map((data) => data.length)).toEqual([5, 4, big.length, 1]);
    expect(sent.join('')).toBe(`firstabcd${big.toString()}e`);
  });
});
