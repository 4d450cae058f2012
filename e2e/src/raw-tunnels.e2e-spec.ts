import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, TunnelRefusedError, type GroveClient } from '@grove/client';
import type { Vm } from '@grove/resources';
import { readAll, waitFor, type RunningProcess } from '@grove/testing';
import { adminClient, BOOTSTRAP_ADMIN } from './test-support/controller-process';
import { EndlessSource } from './test-support/forwarded-download';
import { startRestartableController, type RestartableController } from './test-support/restartable-controller';
import { untilRunning } from './test-support/running-vm';
import { startSyntheticWorker } from './test-support/synthetic-worker';
import { within } from './test-support/websocket-session';

const MiB = 1024 * 1024;
/** `--worker-ping-interval` of this controller: a frozen worker is given up after three silent intervals. */
const PING_INTERVAL_MS = 1_000;

/** How a socket's reading side ended: a clean end of data, or an error code. */
function endOf(socket: Socket): Promise<string> {
  socket.resume();
  return new Promise((resolve) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Waits until the worker has its eight idle raw links parked (grove_worker_idle_tunnel_links), read from its log's URL. */
async function idleLinksParked(worker: RunningProcess): Promise<void> {
  const metricsUrl = /serving \/healthz and \/metrics on (http:\/\/\S+)/.exec(worker.output())?.[1];
  await waitFor(
    'eight idle links',
    async () => /^grove_worker_idle_tunnel_links 8$/m.test(await (await fetch(`${metricsUrl}/metrics`)).text()),
    10_000,
    50,
  );
}

/** A loopback server on the worker host that answers with the count of bytes it read, once its input ended. */
async function countingServer(): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let count = 0;
    socket.on('data', (chunk: Buffer) => (count += chunk.length));
    socket.once('end', () => socket.end(`read ${count} bytes`));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/**
 * Port-forwards over Grove's raw tunnel protocol (docs/tunnels.md "Raw byte streams"): `Upgrade: grove-tunnel/1` from
 * the client library, spliced by the controller to a worker's idle raw link. Real controller and worker processes.
 */
describe('raw tunnels', () => {
  let controller: RestartableController;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess;
  let vm: Vm;
  const workerName = 'e2e-raw-tunnels';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-raw-tunnels-'));
    controller = await startRestartableController(['--worker-ping-interval', `${PING_INTERVAL_MS}ms`]);
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: workerName,
      dataDir: join(home, 'worker'),
    });
    await client.vms.create({ name: 'raw-vm', image: 'any', os: 'linux' });
    vm = await untilRunning(client, 'raw-vm');
  });

  afterAll(async () => {
    client?.close();
    if (worker?.child.pid !== undefined) {
      worker.child.kill('SIGCONT');
    }
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('echoes byte-exact through a worker link and records the bytes in the audit event', async () => {
    // The worker keeps its idle links parked at the controller (as many as idle tunnel streams).
    await idleLinksParked(worker);
    const socket = await client.vms.portForwardStream(vm.name, { port: 7 });
    const data = randomBytes(4 * MiB + 1);
    const back = readAll(socket);
    socket.end(data);
    expect((await back).equals(data)).toBe(true);
    const audit = await waitFor(
      'the audit event',
      async () =>
        (await client.vms.allEvents(vm.name))
          .filter((e) => e.kind === 'audit')
          .map((e) => JSON.parse(e.payload) as Record<string, unknown>)
          .find((r) => r['bytesToTarget'] === data.length),
      5_000,
      50,
    );
    expect(audit).toMatchObject({
      type: 'port-forward',
      account: BOOTSTRAP_ADMIN,
      port: 7,
      bytesFromTarget: data.length,
      result: 'closed',
    });
    // The session rode an idle raw link of the worker, not a gRPC tunnel stream.
    expect(worker.output()).toMatch(
      /tunnel session \S+ to VM \S+ port 7 closed \(4194305 bytes from the target, 4194305 bytes to it, over a raw link\)/,
    );
  });

  it('carries bytes written right behind the request (pipelined) and a half-close to the worker host', async () => {
    const { port, server } = await countingServer();
    try {
      const started = client.workers.startPortForwardStream(workerName, { port });
      const answer = readAll(started.socket);
      started.socket.end(randomBytes(300_000));
      await started.opened;
      expect((await answer).toString()).toBe('read 300000 bytes');
    } finally {
      server.close();
    }
  });

  it('runs 200 concurrent 1 MiB sessions byte-exact, on links and, past the idle ones, on tunnel streams', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const socket = await client.vms.portForwardStream(vm.name, { port: 7 });
        const data = randomBytes(MiB);
        const back = readAll(socket);
        socket.end(data);
        return (await back).equals(data);
      }),
    );
    expect(outcomes.filter((ok) => !ok)).toEqual([]);
    const log = worker.output();
    expect(log).toContain('over a raw link');
    expect(log).toContain('over a tunnel stream');
  });

  it('answers 60 sessions at once that write and half-close right behind their request, past the idle links', async () => {
    // More sessions than idle links: the rest wait for tunnel streams, and their clients' ends arrive meanwhile. The
    // controller once crashed here (the bytes behind the request could not be put back after the end).
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const started = client.vms.startPortForwardStream(vm.name, { port: 7 });
        const data = randomBytes(1000 + i);
        const back = readAll(started.socket);
        started.socket.end(data);
        return (await back).equals(data);
      }),
    );
    expect(outcomes.filter((ok) => !ok)).toEqual([]);
    expect(controller.running()).toBe(true);
    // A client that half-closes without sending a byte gets the end back, also when it waits for a tunnel stream.
    const empty = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const started = client.vms.startPortForwardStream(vm.name, { port: 7 });
        const back = readAll(started.socket);
        started.socket.end();
        return (await back).length;
      }),
    );
    expect(empty).toEqual(Array.from({ length: 30 }, () => 0));
  });

  it('refuses with the reason: a closed port (TunnelRefusedError), an unknown VM (404)', async () => {
    await expect(client.vms.portForwardStream(vm.name, { port: 5999 })).rejects.toThrow(TunnelRefusedError);
    await expect(client.vms.portForwardStream(vm.name, { port: 5999 })).rejects.toThrow(/port 5999 .* is closed/);
    const started = client.vms.startPortForwardStream('no-such-vm', { port: 22, waitSeconds: 0 });
    const ended = endOf(started.socket);
    await expect(started.opened).rejects.toBeInstanceOf(ApiError);
    await expect(started.opened).rejects.toMatchObject({ status: 404 });
    expect(await ended).not.toBe('end');
  });

  it('holds a reader that stops: the source stalls, and flows again once it reads', async () => {
    const source = new EndlessSource();
    const port = await source.listen();
    try {
      const socket = await client.workers.portForwardStream(workerName, { port });
      socket.pause();
      await waitFor('the source to stall', () => source.stalls > 0, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const written = source.written;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(source.written).toBe(written);
      // Bounded: socket buffers on three hops and a read or two in flight per relay.
      expect(written).toBeLessThan(64 * MiB);
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.resume();
      await waitFor('the stream to flow again', () => received > written + 16 * MiB, 15_000);
      socket.destroy();
      await waitFor('the source connection to close', () => source.open === 0, 5_000);
    } finally {
      await source.close();
    }
  });

  it('resets a session whose worker freezes (SIGSTOP): never a clean end that looks like all the data', async () => {
    const source = new EndlessSource();
    const port = await source.listen();
    const pid = worker.child.pid!;
    try {
      const socket = await client.workers.portForwardStream(workerName, { port });
      const ended = endOf(socket);
      await waitFor('data to flow', () => source.written > 8 * MiB, 5_000);
      process.kill(pid, 'SIGSTOP');
      expect(await within(4 * PING_INTERVAL_MS + 8_000, 'the session to end', ended)).toBe('ECONNRESET');
    } finally {
      process.kill(pid, 'SIGCONT');
      await source.close();
    }
    await waitFor(
      'the worker to reconnect',
      () =>
        client.workers.portForwardStream(workerName, { port: 9 }).then(
          (s) => (s.destroy(), true),
          (err: Error) => err instanceof TunnelRefusedError,
        ),
      20_000,
      200,
    );
  }, 40_000);
});
