import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { VmEndpoint } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { VmEndpointSet, type EndpointRelayTarget } from './vm-endpoint-set';

// The worker's listeners for VM endpoints (orchard-2026.md §1.2.2), against a stand-in VM: a TCP and a UDP echo on
// loopback ports, reached as the runtime would reach the VM's port 7.

function tcp(name: string, port = 7, workerPortRange?: { min: number; max: number }): VmEndpoint {
  return { name, protocol: 'tcp', target: { vm: { port } }, ...(workerPortRange ? { workerPortRange } : {}) };
}

function udp(name: string, port = 7): VmEndpoint {
  return { name, protocol: 'udp', target: { vm: { port } } };
}

/** Sends `text` to 127.0.0.1:port over TCP and resolves with what comes back (the connection stays open). */
function listenOn(port: number): Promise<Server | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Holds a port whose next port is free: other processes on a busy machine take ports too, so the free neighbour is
 * checked (by listening on it and letting it go) rather than assumed.
 */
async function blockPortBeforeAFreeOne(): Promise<{ blocker: Server; taken: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const blocker = (await listenOn(0))!;
    const taken = (blocker.address() as AddressInfo).port;
    const probe = taken < 65535 ? await listenOn(taken + 1) : undefined;
    if (probe) {
      await new Promise((resolve) => probe.close(resolve));
      return { blocker, taken };
    }
    blocker.close();
  }
  throw new Error('found no free port next to a free port on 127.0.0.1');
}

async function tcpRoundTrip(port: number, text: string): Promise<{ reply: string; socket: Socket }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let reply = '';
  socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  socket.write(text);
  await waitFor('the echo', () => reply.length >= text.length, 5_000);
  return { reply, socket };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('VmEndpointSet', () => {
  let echo: Server;
  let echoPort: number;
  let udpEcho: UdpSocket;
  let udpEchoPort: number;
  const vmConnections = new Set<Socket>();
  const sets: VmEndpointSet[] = [];
  const lines: string[] = [];

  const target: EndpointRelayTarget = {
    connectTcp: (port) =>
      port === 7
        ? new Promise((resolve, reject) => {
            const socket = connect({ host: '127.0.0.1', port: echoPort }, () => resolve(socket));
            socket.once('error', reject);
          })
        : Promise.reject(new Error(`nothing on VM port ${port}`)),
    udpTarget: (port) =>
      port === 7 ? Promise.resolve({ host: '127.0.0.1', port: udpEchoPort }) : Promise.reject(new Error('no')),
  };

  function newSet(): VmEndpointSet {
    const set = new VmEndpointSet({ address: '127.0.0.1', target, log: (line) => lines.push(line) });
    sets.push(set);
    return set;
  }

  beforeAll(async () => {
    echo = createServer((socket) => {
      vmConnections.add(socket);
      socket.once('close', () => vmConnections.delete(socket));
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
    udpEcho = createSocket('udp4');
    udpEcho.on('message', (message, from) => udpEcho.send(message, from.port, from.address));
    await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
    udpEchoPort = udpEcho.address().port;
  });

  afterEach(async () => {
    await Promise.all(sets.splice(0).map((set) => set.close()));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => echo.close(() => resolve()));
    udpEcho.close();
  });

  it('relays TCP connections from a worker port the OS picked to the VM port', async () => {
    const set = newSet();
    await set.reconcile([tcp('echo')]);
    const [observed] = set.observed();
    expect(observed).toEqual({ name: 'echo', protocol: 'tcp', workerPort: expect.any(Number), state: 'listening' });
    const { reply, socket } = await tcpRoundTrip(observed.workerPort!, 'hello, VM');
    expect(reply).toBe('hello, VM');
    socket.destroy();
  });

  it('relays UDP datagrams both ways, each client on a flow of its own', async () => {
    const set = newSet();
    await set.reconcile([udp('dns')]);
    const [observed] = set.observed();
    expect(observed).toMatchObject({ name: 'dns', protocol: 'udp', state: 'listening' });
    const clients = [createSocket('udp4'), createSocket('udp4')];
    const replies: string[][] = [[], []];
    clients.forEach((client, i) => client.on('message', (m) => replies[i].push(m.toString())));
    try {
      clients[0].send('first', observed.workerPort, '127.0.0.1');
      clients[1].send('second', observed.workerPort, '127.0.0.1');
      clients[0].send('third', observed.workerPort, '127.0.0.1');
      await waitFor('the echoes', () => replies[0].length >= 2 && replies[1].length >= 1, 5_000);
      expect(replies[0].sort()).toEqual(['first', 'third']);
      expect(replies[1]).toEqual(['second']);
    } finally {
      clients.forEach((c) => c.close());
    }
  });

  it('takes the first free port of the range, and reports error when the exact port is taken', async () => {
    const { blocker, taken } = await blockPortBeforeAFreeOne();
    try {
      const set = newSet();
      await set.reconcile([
        tcp('ranged', 7, { min: taken, max: taken + 1 }),
        tcp('exact', 7, { min: taken, max: taken }),
      ]);
      expect(set.observed()).toEqual([
        { name: 'ranged', protocol: 'tcp', workerPort: taken + 1, state: 'listening' },
        {
          name: 'exact',
          protocol: 'tcp',
          state: 'error',
          message: expect.stringMatching(
            new RegExp(`^cannot listen on port ${taken} of 127\\.0\\.0\\.1: .*EADDRINUSE`),
          ),
        },
      ]);
    } finally {
      blocker.close();
    }
  });

  it('tries a listener that could not open again at the next reconciliation, keeping the others', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    const set = newSet();
    const desired = [tcp('free'), tcp('pinned', 7, { min: taken, max: taken })];
    await set.reconcile(desired);
    const [free] = set.observed();
    expect(set.observed()[1]).toMatchObject({ state: 'error' });
    await set.reconcile(desired);
    expect(set.observed()[1]).toMatchObject({ state: 'error' });
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await set.reconcile(desired);
    expect(set.observed()).toEqual([free, { name: 'pinned', protocol: 'tcp', workerPort: taken, state: 'listening' }]);
  });

  it('keeps its listeners while the desired list stays, and replaces them all when it changes', async () => {
    const set = newSet();
    await set.reconcile([tcp('a'), udp('b')]);
    const before = set.observed();
    await set.reconcile([tcp('a'), udp('b')]);
    expect(set.observed()).toEqual(before);
    await set.reconcile([tcp('a')]);
    expect(set.observed()).toHaveLength(1);
    expect(await refused(before[0].workerPort!)).toBe(true);
    const { reply, socket } = await tcpRoundTrip(set.observed()[0].workerPort!, 'again');
    expect(reply).toBe('again');
    socket.destroy();
    await set.reconcile([]);
    expect(set.observed()).toEqual([]);
  });

  it('closes its listeners and the connections it relays when the VM stops', async () => {
    const set = newSet();
    await set.reconcile([tcp('echo')]);
    const port = set.observed()[0].workerPort!;
    const { socket } = await tcpRoundTrip(port, 'x');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await set.close();
    await closed;
    expect(await refused(port)).toBe(true);
    await waitFor('the VM side closed', () => vmConnections.size === 0, 5_000);
    await set.reconcile([tcp('echo')]);
    expect(set.observed()).toEqual([]);
  });

  it('closes a client connection whose VM port cannot be reached, and says why', async () => {
    const set = newSet();
    await set.reconcile([tcp('nothing', 9)]);
    const socket = connect({ host: '127.0.0.1', port: set.observed()[0].workerPort! });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(lines).toContain('endpoint nothing: cannot reach VM port 9: nothing on VM port 9');
  });
});
