import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroveClient } from '@grove/client';
import type { Vm } from '@grove/resources';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import type { WebSocket } from 'ws';
import { createContext } from './test-support/cli-process';
import { adminClient, BOOTSTRAP_ADMIN } from './test-support/controller-process';
import { EndlessSource, ForwardedDownload } from './test-support/forwarded-download';
import { startGrove } from './test-support/grove-process';
import { ndjsonRequest, type NdjsonResponse } from './test-support/ndjson-request';
import { startRestartableController, type RestartableController } from './test-support/restartable-controller';
import { untilRunning } from './test-support/running-vm';
import { startSyntheticWorker } from './test-support/synthetic-worker';
import { closeAndWait, closeOf, echoThrough, within } from './test-support/websocket-session';

/**
 * The session ping interval these tests give the controller (`--worker-ping-interval`): three missed pings end the
 * session and fail its tunnels in use, so a frozen worker is noticed within about three intervals.
 */
const PING_INTERVAL_MS = 1_000;
const FROZEN_WORKER_DETECTION_MS = 4 * PING_INTERVAL_MS;
/** The controller's `--shutdown-grace`: how long SIGTERM lets sessions in progress (the exec here) go on. */
const SHUTDOWN_GRACE_MS = 1_000;

/**
 * Issue 11's faults of sessions that go through the controller: a SIGTERM with watch and exec streams open, and a
 * worker frozen (SIGSTOP) under a port-forward that moves data. Real controller, worker and `grove` processes.
 */
describe('session faults', () => {
  let controller: RestartableController;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess;
  let vm: Vm;
  const workerName = 'e2e-session-faults';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-session-faults-'));
    controller = await startRestartableController([
      '--shutdown-grace',
      `${SHUTDOWN_GRACE_MS / 1000}s`,
      '--worker-ping-interval',
      `${PING_INTERVAL_MS}ms`,
    ]);
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: workerName,
      dataDir: join(home, 'worker'),
    });
    await client.vms.create({ name: 'faults-vm', image: 'any', os: 'linux' });
    vm = await untilRunning(client, 'faults-vm');
    await createContext(join(home, 'cli'), controller.url, BOOTSTRAP_ADMIN, controller.adminToken);
  });

  afterAll(async () => {
    if (worker?.child.pid !== undefined) {
      worker.child.kill('SIGCONT');
    }
    client?.close();
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /** An API port-forward session to the VM's echo port, checked with 64 KiB there and back. */
  async function apiSession(halfClose: boolean): Promise<WebSocket> {
    const ws = await client.vms.portForward(vm.name, { port: 7, waitSeconds: 5, halfClose });
    const data = randomBytes(64 * 1024);
    expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    return ws;
  }

  it(
    'a frozen worker resets the local connection of `grove port-forward` and closes API sessions with 1011',
    async () => {
      const source = new EndlessSource();
      const sourcePort = await source.listen();
      const port = await freePort();
      // A download from the worker host: the local program only reads, so nothing but the forwarder decides whether
      // it sees an end of file or a reset (a program that also writes leaves unread bytes, and any close is a reset).
      const forwarder = startGrove(['port-forward', 'worker', workerName, `${port}:${sourcePort}`], join(home, 'cli'));
      const plain = await apiSession(false);
      const halfClose = await apiSession(true);
      const apiEnds = [closeOf(plain), closeOf(halfClose)];
      let download: ForwardedDownload | undefined;
      const pid = worker.child.pid!;
      try {
        await waitFor('the forwarder to listen', () => forwarder.output().includes(`127.0.0.1:${port}`), 15_000);
        download = new ForwardedDownload(port);
        const app = download;
        await waitFor('8 MiB to come through the tunnel', () => app.received > 8 * 1024 * 1024, 10_000);

        const frozenAt = Date.now();
        process.kill(pid, 'SIGSTOP');
        const end = await within(FROZEN_WORKER_DETECTION_MS + 8_000, 'the local connection to end', app.ended);
        const detectedMs = Date.now() - frozenAt;
        // The program sees a reset: an error, not an end of file that looks like the end of the data.
        expect(end).toEqual({ how: 'error', code: 'ECONNRESET' });
        expect(app.sawEnd).toBe(false);
        // The API clients see why, with 1011, whichever protocol they speak.
        const lost = { code: 1011, reason: 'the connection to the worker was lost' };
        expect(await within(5_000, 'the API sessions to close', Promise.all(apiEnds))).toEqual([lost, lost]);
        // `grove port-forward` runs over Grove's raw tunnel protocol, where the controller ends a failed session with a
        // TCP reset, which carries no reason (docs/tunnels.md "Raw byte streams").
        await waitFor(
          'the forwarder to report the failure',
          () =>
            forwarder
              .output()
              .includes(
                `connection 1: worker "${workerName}" port ${sourcePort}: the tunnel was cut (read ECONNRESET)`,
              ),
          5_000,
        );
        process.stdout.write(
          `frozen worker: the local program got ${end.how === 'error' ? end.code : 'an end of file'} ` +
            `${(detectedMs / 1000).toFixed(1)} s after SIGSTOP, after ${app.received} bytes ` +
            `(the source had written ${source.written})\n`,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\ngrove port-forward printed:\n${forwarder.output()}`, {
          cause: err,
        });
      } finally {
        process.kill(pid, 'SIGCONT');
        download?.stop();
        await closeAndWait(plain);
        await closeAndWait(halfClose);
        await forwarder.stop('SIGINT');
        await source.close();
      }
    },
    FROZEN_WORKER_DETECTION_MS + 15_000,
  );

  it('SIGTERM ends open watch and exec streams as complete responses, and the controller exits within seconds', async () => {
    const account = { name: BOOTSTRAP_ADMIN, token: controller.adminToken };
    const agent = new Agent({ keepAlive: true });
    const streams: Record<string, NdjsonResponse> = {};
    try {
      const request = (method: 'GET' | 'POST', path: string, body?: unknown) =>
        ndjsonRequest({ url: controller.url, account, method, path, body, agent });
      // The worker of the test before may still be coming back from its freeze: the exec waits up to 30 s for it.
      streams['exec'] = await request('POST', `/v1/vms/${vm.name}/exec`, {
        command: 'sleep',
        args: ['60'],
        wait: 30,
      });
      streams['watch of a running VM'] = await request('GET', `/v1/vms/${vm.name}?watch=true`);
      streams['watch of a VM to come'] = await request('GET', '/v1/vms/not-yet-created?watch=true');
      // An exec still waiting for its VM to run (no worker has the label) when the signal comes.
      await client.vms.create({ name: 'never-runs', image: 'any', os: 'linux', labels: { 'session-faults': 'none' } });
      const starting = request('POST', '/v1/vms/never-runs/exec', { command: 'true', wait: 60 });
      // A request nothing ends at shutdown (it waits up to 60 s for the VM to run): the HTTP server's grace cuts it.
      const waiting = request('GET', '/v1/vms/never-runs/ip?wait=60').then(
        (res) => `answered ${res.status}`,
        (err: Error) => `cut: ${err.message}`,
      );
      // A keep-alive connection that is idle when the signal comes: the server must not wait for it either.
      const idle = await request('GET', `/v1/vms/${vm.name}`);
      expect(await idle.ended).toBe('end');
      for (const [name, stream] of Object.entries(streams)) {
        expect({ name, status: stream.status }).toEqual({ name, status: 200 });
      }
      await waitFor(
        'the first lines',
        () => streams['exec'].lines.length > 0 && streams['watch of a running VM'].lines.length > 0,
        30_000,
      );
      const library = client.vms.watch(vm.name);
      const libraryFirst = await library.next();
      expect(libraryFirst.value).toMatchObject({ type: 'ADDED' });

      const signalledAt = Date.now();
      const exited = controller.stopProcess('SIGTERM', 20_000);
      const code = await within(10_000, 'the controller to exit after SIGTERM', exited);
      const exitMs = Date.now() - signalledAt;
      expect(code).toBe(0);
      // The grace for sessions, then the HTTP server's own grace (3 s) at most.
      expect(exitMs).toBeLessThan(SHUTDOWN_GRACE_MS + 3_000 + 2_000);

      for (const [name, stream] of Object.entries(streams)) {
        expect({ name, ended: await within(1_000, `${name} to end`, stream.ended) }).toEqual({ name, ended: 'end' });
        await within(1_000, `the connection of ${name} to close`, stream.connectionClosed);
      }
      await within(1_000, 'the idle keep-alive connection to close', idle.connectionClosed);
      // The exec that had not started got an answer, not a cut connection.
      const refused = await within(1_000, 'the starting exec to be answered', starting);
      expect(refused.status).toBe(503);
      await refused.ended;
      expect(refused.lines).toEqual([expect.objectContaining({ message: 'the controller is shutting down' })]);
      const waited = await within(1_000, 'the waiting request to end', waiting);
      expect(streams['exec'].lines).toEqual([
        { event: 'started', via: expect.any(String) },
        { event: 'error', message: 'the controller is shutting down' },
      ]);
      expect(streams['watch of a running VM'].lines).toEqual([expect.objectContaining({ type: 'ADDED' })]);
      expect(streams['watch of a VM to come'].lines).toEqual([]);
      // The client library sees the end of the stream, not an error.
      expect(await within(1_000, 'the library watch to end', library.next())).toEqual({ done: true, value: undefined });
      process.stdout.write(
        `SIGTERM with ${Object.keys(streams).length + 1} streams, an exec starting, an ip?wait request (${waited}) ` +
          `and an idle keep-alive connection open: exited in ${exitMs} ms (--shutdown-grace ${SHUTDOWN_GRACE_MS} ms)\n`,
      );
    } finally {
      agent.destroy();
    }
  });
});
