import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { GroveClient, tunnelRefusal, TUNNEL_OPENED } from '@grove/client';
import type { WebSocket } from 'ws';
import { echo, json, rawEcho, startFakeController, type FakeController } from '../test-support/fake-controller';
import { waitUntil } from '../test-support/wait-until';
import { PortForwarder } from './port-forwarder';
import { openTunnel, startTunnelStream, type Target } from './target';
import { FallbackTunnelOpener } from './tunnel-opener';

// `grove port-forward`'s tunnels over Grove's raw tunnel protocol (docs/tunnels.md "Raw byte streams"), against a
// fake controller on 127.0.0.1 that answers the upgrade with 101, writes the status record, and then is the target.

const TARGET: Target = { kind: 'vm', name: 'a' };

/** What a local program saw on its connection: the bytes, whether it got an end of data, and its error code. */
interface LocalView {
  data: Buffer;
  sawEnd: boolean;
  error?: string;
}

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

function localConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** How the far end's socket ended: `end` (a FIN, then closed) or its error code (ECONNRESET: a reset). */
function farEndClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let how = 'end';
    socket.once('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    socket.resume();
    socket.once('close', () => resolve(how));
  });
}

describe('grove port-forward over the raw tunnel protocol', () => {
  const reports: string[] = [];
  let fake: FakeController;
  let client: GroveClient;
  let opener: FallbackTunnelOpener;
  let forwarder: PortForwarder | undefined;

  beforeEach(async () => {
    fake = await startFakeController((_req, res) => json(res, 404, { message: 'no such route' }));
    client = new GroveClient({ url: fake.url, serviceAccountName: 'admin', serviceAccountToken: 'secret' });
    opener = new FallbackTunnelOpener(
      {
        stream: (signal) => startTunnelStream(client, TARGET, { port: 7, waitSeconds: 5, signal }),
        webSocket: (signal) => openTunnel(client, TARGET, { port: 7, waitSeconds: 5, signal, halfClose: true }),
      },
      TARGET.name,
    );
  });

  afterEach(async () => {
    await forwarder?.close();
    forwarder = undefined;
    client.close();
    await fake.close();
    reports.length = 0;
  });

  /** Starts the forwarder as `grove port-forward` does: one connection kept ready once it listens. */
  async function listen(): Promise<number> {
    forwarder = await PortForwarder.listen({
      host: '127.0.0.1',
      port: 0,
      label: 'VM "a" port 7',
      openTunnel: (signal) => opener.open(signal),
      report: (line) => reports.push(line),
    });
    client.keepConnectionReady();
    return forwarder.address.port;
  }

  it('moves megabytes both ways byte for byte, each connection its own raw upgrade', async () => {
    fake.upgrade = () => ({ raw: rawEcho });
    const port = await listen();
    const data = randomBytes(8 * 1024 * 1024);
    for (const _round of [1, 2]) {
      const socket = await localConnection(port);
      const view = watchLocal(socket);
      socket.end(data);
      const seen = await view.closed;
      // Buffer.equals: Jest compares big buffers byte by byte, for seconds.
      expect(seen.data.equals(data)).toBe(true);
      expect({ ...seen, data: undefined }).toEqual({ sawEnd: true, data: undefined });
    }
    expect(fake.requests.map((r) => `${r.protocol} ${r.url}`)).toEqual(
      Array(2).fill('grove-tunnel/1 /v1/vms/a/port-forward?port=7&wait=5'),
    );
    expect(fake.requests[0].authorization).toBe(`Basic ${Buffer.from('admin:secret').toString('base64')}`);
    expect(reports).toEqual([]);
  });

  it('carries a half-close: a client that stopped sending still gets the whole answer', async () => {
    // The far end answers once the client's end arrived: the answer needs the FIN to get through the tunnel.
    fake.upgrade = () => ({
      raw: (socket) => {
        socket.write(TUNNEL_OPENED);
        let received = 0;
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
        socket.once('end', () => socket.end(`got ${received} bytes`));
      },
    });
    const port = await listen();
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.end(Buffer.alloc(100_000, 1));
    expect(await view.closed).toEqual({ data: Buffer.from('got 100000 bytes'), sawEnd: true });
    expect(reports).toEqual([]);
  });

  it('delivers what the target sends first, read together with the 101 and the status record', async () => {
    fake.upgrade = () => ({
      greeting: Buffer.concat([TUNNEL_OPENED, Buffer.from('SSH-2.0-banner\r\n')]),
      raw: () => undefined,
    });
    const port = await listen();
    const socket = await localConnection(port);
    const [first] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    expect(first.toString()).toBe('SSH-2.0-banner\r\n');
  });

  it("resets the local connection when the worker cannot reach the target, and reports the worker's reason", async () => {
    fake.upgrade = () => ({
      raw: (socket) => socket.end(tunnelRefusal('connect ECONNREFUSED 127.0.0.1:7')),
    });
    const port = await listen();
    expect(await watchLocal(connect(port, '127.0.0.1')).closed).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: connect ECONNREFUSED 127.0.0.1:7']);
  });

  it("reports the controller's refusal before the upgrade, and keeps using the raw protocol", async () => {
    let n = 0;
    fake.upgrade = () => (++n === 1 ? { status: 404, body: { message: 'VM "a" not found' } } : { raw: rawEcho });
    const port = await listen();
    expect(await watchLocal(connect(port, '127.0.0.1')).closed).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.end('still here');
    expect((await view.closed).data.toString()).toBe('still here');
    expect(reports).toEqual(['connection 1: VM "a" port 7: controller answered 404: VM "a" not found']);
    expect(fake.requests.map((r) => r.protocol)).toEqual(['grove-tunnel/1', 'grove-tunnel/1']);
    expect(opener.fellBack).toBe(false);
  });

  it('resets the local connection when the tunnel is reset mid-session, and says the tunnel was cut', async () => {
    let far: Socket | undefined;
    fake.upgrade = () => ({
      raw: (socket) => {
        far = socket;
        socket.write(Buffer.concat([TUNNEL_OPENED, Buffer.alloc(64 * 1024, 1)]));
      },
    });
    const port = await listen();
    const app = watchLocal(connect(port, '127.0.0.1'));
    // A reset that finds unread data reads as an end of file in libuv: fail once everything was read.
    await waitUntil(() => app.received() === 64 * 1024);
    far!.resetAndDestroy();
    expect(await app.closed).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 1: VM "a" port 7: the tunnel was cut (read ECONNRESET)']);
  });

  it('resets the far end when the local program resets its connection, without a report', async () => {
    let far: Promise<string> | undefined;
    fake.upgrade = () => ({
      raw: (socket) => {
        far = farEndClosed(socket);
        rawEcho(socket);
      },
    });
    const port = await listen();
    const socket = await localConnection(port);
    socket.write('x');
    await once(socket, 'data');
    socket.resetAndDestroy();
    await waitUntil(() => far !== undefined);
    expect(await far).toBe('ECONNRESET');
    expect(reports).toEqual([]);
  });

  /** One connection through the forwarder that sends `text`, ends, and must get it back: proves the raw protocol. */
  async function echoOnce(port: number, text: string): Promise<void> {
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.end(text);
    expect((await view.closed).data.toString()).toBe(text);
  }

  it("pipelines connections once the controller proved the raw protocol: their first bytes don't wait for the answer", async () => {
    // The far end of the second tunnel opens only after the client's first bytes arrived: a forwarder that waits for
    // the status record before sending would wait forever.
    let n = 0;
    fake.upgrade = () => ({
      raw:
        ++n === 1
          ? rawEcho
          : (socket) => {
              socket.once('data', (first: Buffer) => {
                socket.write(Buffer.concat([TUNNEL_OPENED, Buffer.from(`opened after ${first.toString()}`)]));
                socket.end();
              });
              socket.resume();
            },
    });
    const port = await listen();
    await echoOnce(port, 'proof');
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.write('hello');
    await waitUntil(() => view.received() === 'opened after hello'.length);
    socket.end();
    expect(await view.closed).toEqual({ data: Buffer.from('opened after hello'), sawEnd: true });
    expect(reports).toEqual([]);
  });

  it("resets a pipelined connection the worker cannot open, and reports the worker's reason", async () => {
    let n = 0;
    fake.upgrade = () => ({
      raw: ++n === 1 ? rawEcho : (socket) => socket.end(tunnelRefusal('connect ECONNREFUSED 127.0.0.1:7')),
    });
    const port = await listen();
    await echoOnce(port, 'proof');
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.write('lost on the way');
    expect(await view.closed).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual(['connection 2: VM "a" port 7: connect ECONNREFUSED 127.0.0.1:7']);
  });

  it('fails the pipelined connection that finds the raw protocol gone, and opens later ones as WebSockets', async () => {
    let n = 0;
    fake.upgrade = (req) => {
      n++;
      if (n === 1) {
        return { raw: rawEcho };
      }
      // The controller was replaced by one that only knows WebSockets.
      return req.protocol === 'websocket'
        ? (ws: WebSocket) => echo(ws)
        : { status: 400, body: { message: 'this endpoint needs a WebSocket handshake' } };
    };
    const port = await listen();
    await echoOnce(port, 'proof');
    const failed = await localConnection(port);
    const failedView = watchLocal(failed);
    failed.write('x');
    expect(await failedView.closed).toMatchObject({ sawEnd: false, error: 'ECONNRESET' });
    await waitUntil(() => reports.length === 1);
    expect(reports).toEqual([
      'connection 2: VM "a" port 7: controller answered 400: this endpoint needs a WebSocket handshake',
    ]);
    const socket = await localConnection(port);
    const view = watchLocal(socket);
    socket.write('over a WebSocket');
    await waitUntil(() => view.received() === 'over a WebSocket'.length);
    socket.end();
    expect((await view.closed).data.toString()).toBe('over a WebSocket');
    expect(fake.requests.map((r) => r.protocol)).toEqual(['grove-tunnel/1', 'grove-tunnel/1', 'websocket']);
    expect(opener.fellBack).toBe(true);
  });

  it.each([
    ['400 (a Grove controller before the raw protocol)', 400, 'this endpoint needs a WebSocket handshake'],
    ['404 not about the VM (no such route)', 404, 'Cannot GET /v1/vms/a/port-forward'],
    ['426 (a WebSocket library asking for its upgrade)', 426, 'Upgrade Required'],
  ])('falls back to WebSockets for good when the raw upgrade is answered %s', async (_name, status, message) => {
    fake.upgrade = (req) =>
      req.protocol === 'websocket' ? (ws: WebSocket) => echo(ws) : { status, body: { message } };
    const port = await listen();
    for (const text of ['first', 'second']) {
      const socket = await localConnection(port);
      const view = watchLocal(socket);
      socket.write(text);
      await waitUntil(() => view.received() === text.length);
      socket.end();
      expect((await view.closed).data.toString()).toBe(text);
    }
    expect(fake.requests.map((r) => r.protocol)).toEqual(['grove-tunnel/1', 'websocket', 'websocket']);
    expect(opener.fellBack).toBe(true);
    expect(reports).toEqual([]);
  });

  it('close() stops listening and resets open and opening connections, and their far ends', async () => {
    const farEnds: Promise<string>[] = [];
    fake.upgrade = () =>
      farEnds.length === 0
        ? {
            raw: (socket) => {
              farEnds.push(farEndClosed(socket));
              rawEcho(socket);
            },
          }
        : // The second tunnel never opens: the controller is still waiting for the VM.
          {
            raw: (socket) => {
              farEnds.push(farEndClosed(socket));
            },
          };
    const port = await listen();
    const open = await localConnection(port);
    const openView = watchLocal(open);
    open.write('x');
    await waitUntil(() => openView.received() === 1);
    const opening = await localConnection(port);
    const openingView = watchLocal(opening);
    await waitUntil(() => farEnds.length === 2);

    await forwarder!.close();
    expect(await Promise.all([openView.closed, openingView.closed])).toEqual([
      { data: Buffer.from('x'), sawEnd: false, error: 'ECONNRESET' },
      { data: Buffer.alloc(0), sawEnd: false, error: 'ECONNRESET' },
    ]);
    // The open session's far end sees a reset.
    expect(await farEnds[0]).toBe('ECONNRESET');
    await expect(localConnection(port)).rejects.toThrow('ECONNREFUSED');
    expect(reports).toEqual([]);
  });
});
