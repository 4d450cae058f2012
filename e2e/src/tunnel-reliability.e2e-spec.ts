import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroveClient } from '@grove/client';
import type { Vm } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import type { WebSocket } from 'ws';
import { adminClient } from './test-support/controller-process';
import {
  residentBytes,
  startRestartableController,
  type RestartableController,
} from './test-support/restartable-controller';
import { sessionCount, SyntheticWorkers } from './test-support/synthetic-worker';
import { closeAndWait, closeOf, echoThrough, within } from './test-support/websocket-session';
import { EndlessSource } from './test-support/forwarded-download';
import { untilRunning } from './test-support/running-vm';

const MiB = 1024 * 1024;

/**
 * Tunnel sessions when something around them fails: the controller restarts, a worker dies, a client stops reading.
 * Real controller and synthetic worker processes on loopback; every wait is bounded.
 */
describe('tunnel reliability', () => {
  let controller: RestartableController;
  let client: GroveClient;
  let home: string;
  const workers = new SyntheticWorkers(
    () => controller,
    () => home,
  );

  const worker = (name: string, labels?: string): Promise<RunningProcess> => workers.start(name, labels);

  /** Creates a Linux VM that only the worker with label `tunnel-test=<label>` runs, and waits until it runs. */
  async function runningVm(name: string, label: string): Promise<Vm> {
    await client.vms.create({ name, image: 'any', os: 'linux', labels: { 'tunnel-test': label } });
    return untilRunning(client, name);
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-tunnel-reliability-'));
    // No drain: these tests check what sessions see when their controller goes away at once.
    controller = await startRestartableController(['--shutdown-grace', '0s']);
    client = adminClient(controller);
  });

  afterAll(async () => {
    client?.close();
    await workers.stopAll();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /** Opens a session to the VM's echo port and checks that bytes come back. */
  async function echoSession(vm: Vm): Promise<WebSocket> {
    const ws = await client.vms.portForward(vm.name, { port: 7, waitSeconds: 5 });
    const data = randomBytes(64 * 1024);
    try {
      expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    } catch (err) {
      await closeAndWait(ws);
      throw err;
    }
    return ws;
  }

  // Nest closes the HTTP server (which waits for every connection, upgraded WebSockets included) before its
  // onApplicationShutdown hooks run, so sessions are ended in beforeApplicationShutdown; this guards that order.
  it('SIGTERM ends open sessions with 1011, the controller exits, and tunnels work again after restart', async () => {
    const proc = await worker('e2e-reliable-sigterm', 'tunnel-test=sigterm');
    const vm = await runningVm('sigterm-vm', 'sigterm');
    const ws = await echoSession(vm);
    const ended = closeOf(ws);
    const sessions = sessionCount(proc);
    const exited = controller.stopProcess('SIGTERM', 8_000);
    try {
      // The session ends with the controller, not when some timeout notices.
      const end = await within(5_000, 'the WebSocket to close after SIGTERM', ended);
      expect(end).toEqual({ code: 1011, reason: 'the controller is shutting down' });
      expect(await within(5_000, 'the controller to exit after SIGTERM', exited)).toBe(0);

      await controller.start();
      // The worker retries with back-off from 0.5 s (reconnectDelayMs); 20 s covers several attempts.
      await waitFor('the worker to reconnect', () => sessionCount(proc) > sessions, 20_000, 50);
      await closeAndWait(await echoSession(vm));
    } finally {
      // Whatever failed, leave a running controller to the other tests (SIGKILL came after 8 s if needed).
      await exited;
      if (!controller.running()) {
        await controller.start();
      }
      await closeAndWait(ws);
    }
  });

  it('ends open sessions when the controller process dies, and tunnels again once the worker is back', async () => {
    const proc = await worker('e2e-reliable-crash', 'tunnel-test=crash');
    const vm = await runningVm('crash-vm', 'crash');
    const ws = await echoSession(vm);
    const ended = closeOf(ws);
    const sessions = sessionCount(proc);

    await controller.stopProcess('SIGKILL');
    try {
      // No closing handshake from a dead process: the client sees the TCP connection end (1006) at once.
      expect(await within(5_000, 'the WebSocket to close after SIGKILL', ended)).toEqual({ code: 1006, reason: '' });
    } finally {
      await controller.start();
    }
    // The worker retries with back-off from 0.5 s (reconnectDelayMs); 20 s covers several attempts.
    await waitFor('the worker to reconnect', () => sessionCount(proc) > sessions, 20_000, 50);
    await closeAndWait(await echoSession(vm));
  });

  it('ends the sessions of a killed worker with 1011 and the reason, then answers 503 within wait', async () => {
    const name = 'e2e-reliable-doomed';
    const proc = await worker(name, 'tunnel-test=kill');
    const vm = await runningVm('kill-vm', 'kill');
    const ws = await echoSession(vm);
    const ended = closeOf(ws);

    await proc.stop('SIGKILL');
    const end = await within(5_000, 'the WebSocket to close after the worker died', ended);
    expect(end).toEqual({ code: 1011, reason: 'the connection to the worker was lost' });

    // The VM still counts as running (the offline timeout is minutes away): its worker cannot be reached.
    const started = Date.now();
    await expect(client.vms.portForward(vm.name, { port: 7, waitSeconds: 5 })).rejects.toMatchObject({
      status: 503,
      message: `cannot reach worker "${name}": worker "${name}" is not connected to the controller`,
    });
    expect(Date.now() - started).toBeLessThan(5_000 + 3_000);
  });

  it('holds a bounded amount in the controller for a client that stops reading, and flows again after', async () => {
    const name = 'e2e-reliable-stall';
    await worker(name);
    const source = new EndlessSource();
    const port = await source.listen();
    let ws: WebSocket | undefined;
    try {
      const rssBefore = residentBytes(controller.pid());
      // Paused from the start, as the client returns it: this client reads nothing.
      ws = await client.workers.portForward(name, { port });
      await waitFor('the source to write', () => source.written > 0, 5_000);
      // A measurement window, not a synchronisation: unthrottled, loopback moves gigabytes in this time.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const writtenAt4s = source.written;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const rssGrowth = residentBytes(controller.pid()) - rssBefore;
      const written = source.written;

      // The source met backpressure and then stood still: every buffer on the way (kernel sockets, tunnel windows,
      // the WebSocket) is full and nothing more is taken.
      expect(source.stalls).toBeGreaterThan(0);
      expect(written).toBeLessThan(64 * MiB);
      expect(written).toBe(writtenAt4s);
      expect(rssGrowth).toBeLessThan(64 * MiB);

      // The stalled session is intact: once the client reads, the stream flows again.
      let received = 0;
      ws.on('message', (message: Buffer) => (received += message.length));
      ws.resume();
      await waitFor('the stream to flow past the stall', () => received > written + 16 * MiB, 15_000);
      await closeAndWait(ws);
      // Closing the WebSocket ends the worker's connection to the target too.
      await waitFor('the source connection to close', () => source.open === 0, 5_000);
    } finally {
      if (ws) {
        await closeAndWait(ws);
      }
      await source.close();
    }
  });
});
