import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroveClient } from '@grove/client';
import type { Vm, VmEndpoint } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import { adminClient, type ControllerProcess, startController } from './test-support/controller-process';
import { startSyntheticWorker } from './test-support/synthetic-worker';

const WORKER = 'e2e-endpoints';
const tcpEcho: VmEndpoint = { name: 'echo', protocol: 'tcp', target: { vm: { port: 7 } } };
const udpEcho: VmEndpoint = { name: 'echo-udp', protocol: 'udp', target: { vm: { port: 7 } } };

/** Sends `payload` over TCP to 127.0.0.1:port and resolves with the bytes that come back. */
async function tcpRoundTrip(port: number, payload: Buffer): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(payload);
    await waitFor('the echo', () => length >= payload.length, 10_000);
    return Buffer.concat(chunks);
  } finally {
    socket.destroy();
  }
}

/** Sends a datagram to 127.0.0.1:port and resolves with the first answer (retrying: UDP may drop). */
async function udpRoundTrip(port: number, text: string): Promise<string> {
  const socket = createSocket('udp4');
  let reply: string | undefined;
  socket.on('message', (message) => (reply = message.toString()));
  try {
    return await waitFor(
      'the UDP echo',
      () => {
        if (reply === undefined) {
          socket.send(text, port, '127.0.0.1');
        }
        return reply;
      },
      10_000,
      200,
    );
  } finally {
    socket.close();
  }
}

/** An IPv4 address of this host that is not loopback, if it has one. */
function lanAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
}

function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * VM endpoints end to end (issue 12, orchard-2026.md §1.2.2): a real controller and a synthetic worker process; the
 * worker listens on ports of 127.0.0.1 (its default `--endpoint-address`) and relays to the VM's echo services on port
 * 7, TCP and UDP.
 */
describe('VM endpoints on a synthetic worker', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let worker: RunningProcess;
  let allInterfaces: RunningProcess | undefined;
  let home: string;

  const until = (what: string, name: string, probe: (vm: Vm) => boolean) =>
    waitFor(
      what,
      async () => {
        const vm = await client.vms.get(name);
        return probe(vm) ? vm : undefined;
      },
      20_000,
      50,
    );
  const listening = (vm: Vm, count: number) =>
    vm.observedEndpoints?.length === count && vm.observedEndpoints.every((e) => e.state === 'listening');

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-endpoints-'));
    controller = await startController();
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: WORKER,
      dataDir: join(home, WORKER),
    });
  });

  afterAll(async () => {
    await allInterfaces?.stop();
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('registers the worker with capability vm-endpoints', async () => {
    expect((await client.workers.get(WORKER)).capabilities).toContain('vm-endpoints');
  });

  it('relays TCP and UDP from worker ports to the VM, follows endpoint changes without a restart, closes on stop', async () => {
    const name = 'svc';
    await client.vms.create({ name, image: 'any', os: 'linux', endpoints: [tcpEcho, udpEcho] });
    const vm = await until('both endpoints listening', name, (v) => v.status === 'running' && listening(v, 2));
    expect(vm.worker).toBe(WORKER);
    const [tcp, udp] = vm.observedEndpoints!;
    expect(tcp).toEqual({ name: 'echo', protocol: 'tcp', workerPort: expect.any(Number), state: 'listening' });
    expect(udp).toEqual({ name: 'echo-udp', protocol: 'udp', workerPort: expect.any(Number), state: 'listening' });

    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) {
      payload[i] = (i * 7919) % 251;
    }
    expect((await tcpRoundTrip(tcp.workerPort!, payload)).equals(payload)).toBe(true);
    expect(await udpRoundTrip(udp.workerPort!, 'hello over UDP')).toBe('hello over UDP');
    // Loopback only by default: the port is not open on the host's network address (when it has one).
    const lan = lanAddress();
    if (lan !== undefined) {
      expect(await refused(tcp.workerPort!, lan)).toBe(true);
    }

    // Pin the TCP endpoint to a port of our choice: the listeners are replaced, the VM keeps running.
    const pinned = await freePort();
    await client.vms.updateSpec(name, { endpoints: [{ ...tcpEcho, workerPortRange: { min: pinned, max: pinned } }] });
    const changed = await until(
      'the pinned endpoint',
      name,
      (v) => v.observedGeneration === 1 && listening(v, 1) && v.observedEndpoints?.[0].workerPort === pinned,
    );
    expect(changed).toMatchObject({ status: 'running', started_at: vm.started_at, restart_count: 0 });
    expect((await tcpRoundTrip(pinned, Buffer.from('pinned'))).toString()).toBe('pinned');
    expect(await refused(tcp.workerPort!)).toBe(true);

    await client.vms.updateSpec(name, { powerState: 'stopped' });
    await until('no endpoints', name, (v) => v.observedEndpoints === undefined && v.powerState === 'stopped');
    await waitFor('the listener closed', () => refused(pinned), 10_000);
  });

  it('listens on the address of --endpoint-address', async () => {
    const name = 'everywhere';
    allInterfaces = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: `${WORKER}-all`,
      dataDir: join(home, `${WORKER}-all`),
      extraArgs: ['--endpoint-address', '0.0.0.0'],
    });
    await client.vms.create({
      name,
      image: 'any',
      os: 'linux',
      labels: { 'org.cirruslabs.orchard.worker-name': `${WORKER}-all` },
      endpoints: [tcpEcho],
    });
    const vm = await until('listening', name, (v) => v.status === 'running' && listening(v, 1));
    const port = vm.observedEndpoints![0].workerPort!;
    expect(allInterfaces.output()).toContain(`endpoint echo: tcp 0.0.0.0:${port} → VM port 7`);
    const lan = lanAddress();
    if (lan !== undefined) {
      expect(await refused(port, lan)).toBe(false);
    }
    expect((await tcpRoundTrip(port, Buffer.from('anywhere'))).toString()).toBe('anywhere');
  });
});
