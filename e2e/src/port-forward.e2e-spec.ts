import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, type GroveClient, webSocketStream } from '@grove/client';
import { encodeBootstrapToken, type Vm } from '@grove/resources';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { createWebSocketStream, type WebSocket } from 'ws';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  type ControllerProcess,
  startController,
} from './test-support/controller-process';
import { REPO_ROOT } from './test-support/paths';
import { untilRunning } from './test-support/running-vm';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');

/** Sends `data` through a port-forward WebSocket to an echo service and resolves with what came back. */
function echoThrough(ws: WebSocket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    ws.on('message', (message: Buffer) => {
      chunks.push(message);
      received += message.length;
      if (received >= data.length) {
        resolve(Buffer.concat(chunks));
      }
    });
    ws.resume();
    ws.once('error', reject);
    ws.once('close', (code, reason) => {
      if (received < data.length) {
        reject(new Error(`closed after ${received} bytes: ${code} ${reason.toString()}`));
      }
    });
    for (let offset = 0; offset < data.length; offset += 64 * 1024) {
      ws.send(data.subarray(offset, offset + 64 * 1024));
    }
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  ws.resume();
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('port-forward through worker tunnels', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess;
  const workerName = 'e2e-tunnel-1';
  let vm: Vm;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-tunnels-'));
    controller = await startController();
    client = adminClient(controller);
    const token = encodeBootstrapToken({
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
    });
    worker = startNodeProcess([
      WORKER_MAIN,
      controller.url,
      '--bootstrap-token',
      token,
      '--name',
      workerName,
      '--runtime',
      'synthetic',
      '--data-dir',
      join(home, workerName),
    ]);
    await waitFor('the worker session', () => /connected to http/.test(worker.output()), 20_000);
    await client.vms.create({ name: 'pf', image: 'any', os: 'linux' });
    vm = await untilRunning(client, 'pf');
  });

  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('echoes bytes through the echo port of a VM', async () => {
    const ws = await client.vms.portForward(vm.name, { port: 7 });
    const data = randomBytes(1024 * 1024);
    expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    ws.close();
    await closed(ws);
  });

  it('carries a half-close: the echo answers in full after the client stopped writing', async () => {
    const ws = await client.vms.portForward(vm.name, { port: 7, halfClose: true });
    const stream = webSocketStream(ws);
    const data = randomBytes(300_000);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => stream.once('end', resolve));
    stream.end(data);
    await ended;
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    await closed(ws);
  });

  it('runs 200 concurrent sessions of 1 MiB each, byte-exact', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const ws = await client.vms.portForward(vm.name, { port: 7 });
        const data = randomBytes(1024 * 1024);
        const back = await echoThrough(ws, data);
        ws.close();
        await closed(ws);
        return back.equals(data);
      }),
    );
    expect(results.filter((ok) => !ok)).toHaveLength(0);
  });

  it('answers 400 for a bad port, 404 for an unknown VM', async () => {
    await expect(client.vms.portForward(vm.name, { port: 0 })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('port must be an integer from 1 to 65535'),
    });
    await expect(client.vms.portForward('no-such-vm', { port: 7 })).rejects.toBeInstanceOf(ApiError);
  });

  it('answers 408 for a VM that does not run within wait, 417 for a failed VM', async () => {
    // A label no worker has keeps the VM pending.
    await client.vms.create({ name: 'never-placed', image: 'any', os: 'linux', labels: { pool: 'none' } });
    await expect(client.vms.portForward('never-placed', { port: 7, waitSeconds: 1 })).rejects.toMatchObject({
      status: 408,
      message: expect.stringContaining('is not running yet'),
    });
    await client.vms.create({ name: 'broken', image: 'fail-clone', os: 'linux' });
    await waitFor('failed', async () => (await client.vms.get('broken')).status === 'failed', 20_000, 50);
    await expect(client.vms.portForward('broken', { port: 7 })).rejects.toMatchObject({
      status: 417,
      message: "VM is in a terminal state 'failed'",
    });
  });

  it('reports the VM address and reaches a port of the worker host', async () => {
    expect(await client.vms.ip(vm.name)).toBe('127.0.0.1');
    const server = createServer((socket) => socket.end('from the worker host'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const ws = await client.workers.portForward(workerName, { port: (server.address() as AddressInfo).port });
      const chunks: Buffer[] = [];
      ws.on('message', (m: Buffer) => chunks.push(m));
      await closed(ws);
      expect(Buffer.concat(chunks).toString()).toBe('from the worker host');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('closes the WebSocket with the reason when the VM port is closed', async () => {
    const ws = await client.vms.portForward(vm.name, { port: 5901 });
    const { code, reason } = await closed(ws);
    expect(code).toBe(1011);
    expect(reason).toMatch(/5901/);
  });

  it('streams through a duplex adapter and records an audit event', async () => {
    const ws = await client.vms.portForward(vm.name, { port: 7 });
    const stream = createWebSocketStream(ws);
    stream.write('hello');
    const back = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    expect(back.toString()).toBe('hello');
    stream.end();
    await closed(ws);
    await closed(await client.vms.portForward(vm.name, { port: 5901 }));
    const audit = await waitFor(
      'the audit events',
      async () => {
        const events = (await client.vms.allEvents(vm.name)).filter((e) => e.kind === 'audit');
        return events.some((e) => e.payload.includes('"port":5901')) ? events : undefined;
      },
      5_000,
      50,
    );
    const records = audit.map((e) => JSON.parse(e.payload) as Record<string, unknown>);
    expect(records).toContainEqual(
      expect.objectContaining({
        type: 'port-forward',
        account: BOOTSTRAP_ADMIN,
        vm: vm.name,
        worker: workerName,
        port: 7,
        bytesToTarget: 5,
        bytesFromTarget: 5,
        result: 'closed',
      }),
    );
    // A refused port is recorded with the reason.
    expect(records).toContainEqual(
      expect.objectContaining({ port: 5901, result: 'error', error: expect.stringContaining('5901') }),
    );
  });
});
