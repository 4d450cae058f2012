import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as outage } from 'node:timers/promises';
import { type GroveClient } from '@grove/client';
import { waitFor, type RunningProcess } from '@grove/testing';
import { adminClient } from './test-support/controller-process';
import { startRestartableController, type RestartableController } from './test-support/restartable-controller';
import { untilRunning } from './test-support/running-vm';
import { sessionCount, startSyntheticWorker } from './test-support/synthetic-worker';
import { closeOf, echoThrough, within } from './test-support/websocket-session';

const OFFLINE_TIMEOUT_S = 6;

/**
 * Restart grace (issue 11): a controller that was down longer than the worker offline timeout must not fail the VMs
 * of workers that kept them running and come back after it does. Orchard's #454 made the same fix: absence counts
 * from the controller's start, not from a `last_seen` written before the outage.
 */
describe('a controller outage longer than the worker offline timeout', () => {
  let controller: RestartableController;
  let client: GroveClient;
  let home: string;
  const workers: RunningProcess[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-restart-grace-'));
    controller = await startRestartableController(['--worker-offline-timeout', `${OFFLINE_TIMEOUT_S}s`]);
    client = adminClient(controller);
    for (const name of ['grace-1', 'grace-2']) {
      workers.push(
        await startSyntheticWorker({
          controllerUrl: controller.url,
          adminToken: controller.adminToken,
          name,
          dataDir: join(home, name),
        }),
      );
    }
  });

  afterAll(async () => {
    client?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('fails no VM whose worker reconnects after the controller is back', async () => {
    const names = ['grace-vm-1', 'grace-vm-2', 'grace-vm-3', 'grace-vm-4'];
    for (const name of names) {
      await client.vms.create({ name, image: 'any', os: 'linux' });
    }
    for (const name of names) {
      await untilRunning(client, name, 30_000);
    }
    const sessions = workers.map(sessionCount);

    expect(await controller.stopProcess('SIGTERM')).toBe(0);
    // The outage itself: longer than the offline timeout, so every last_seen is stale when the controller returns.
    await outage((OFFLINE_TIMEOUT_S + 3) * 1000);
    await controller.start();
    const back = Date.now();

    await waitFor(
      'both workers to open a new session',
      () => workers.every((w, i) => sessionCount(w) > sessions[i]),
      OFFLINE_TIMEOUT_S * 1000,
      50,
    );
    // The old controller failed every VM on its first pass, about a second after its start; give the passes of the
    // restarted one (every 5 s, and at once on changes) time to judge.
    await waitFor('two scheduler intervals after the restart', () => Date.now() - back > 10_000, 15_000, 200);
    const vms = await client.vms.list();
    expect(vms.map((vm) => [vm.name, vm.status, vm.status_message])).toEqual(
      names.map((name) => [name, 'running', expect.not.stringContaining('lost connection')]),
    );
  });
});

/**
 * Graceful stop (issue 11, rolling restarts): on SIGTERM the controller tells its workers to reconnect elsewhere,
 * lets the sessions in progress go on for up to --shutdown-grace, then cuts what is left and exits.
 */
describe('SIGTERM with a session in progress', () => {
  const GRACE_S = 3;
  let controller: RestartableController;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess | undefined;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-drain-'));
    controller = await startRestartableController(['--shutdown-grace', `${GRACE_S}s`]);
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: 'drained',
      dataDir: join(home, 'drained'),
    });
  });

  afterAll(async () => {
    client?.close();
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('keeps the session working through the grace period, tells the worker, then ends it and exits', async () => {
    await client.vms.create({ name: 'drain-vm', image: 'any', os: 'linux' });
    await untilRunning(client, 'drain-vm', 30_000);
    const ws = await client.vms.portForward('drain-vm', { port: 7, waitSeconds: 5 });
    const data = randomBytes(64 * 1024);
    expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    const ended = closeOf(ws);
    const signalledAt = Date.now();
    const exited = controller.stopProcess('SIGTERM', 20_000);

    // Well inside the grace period the session still moves bytes, and the worker has been told to go.
    await waitFor('the worker to hear the controller is going away', () => /going away/.test(worker!.output()), 2000);
    expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    // A load balancer checking GET /v1/ takes the draining controller out of rotation.
    const health = await fetch(`${controller.url}/v1/`);
    expect(health.status).toBe(503);

    const end = await within((GRACE_S + 5) * 1000, 'the session to be cut after the grace period', ended);
    expect(end).toEqual({ code: 1011, reason: 'the controller is shutting down' });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(GRACE_S * 1000 - 200);
    expect(await within(10_000, 'the controller to exit', exited)).toBe(0);
    expect(controller.output()).toMatch(/Ending 1 session\(s\) still in progress/);
  });
});
