import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { encodeBootstrapToken } from '@grove/resources';
import { freePort, startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  startController,
  type ControllerProcess,
} from './test-support/controller-process';
import { REPO_ROOT } from './test-support/paths';
import { untilRunning } from './test-support/running-vm';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');
const STAND_IN_BIN = join(REPO_ROOT, 'e2e', 'tart', 'bin');
const WORKER = 'metrics-worker';
// A Tart worker registers the host's architecture; on a Linux x64 test machine that is amd64.
const ARCH: 'arm64' | 'amd64' = process.arch === 'arm64' ? 'arm64' : 'amd64';

/** A GET without keep-alive: status and body. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

/** A sample's value in Prometheus text (labels in the order prom-client writes them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Relays a loopback port to the controller's, so that the test decides when the worker can reach it. */
function relay(port: number, target: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    // Either side gone (the controller stopped, the worker hung up) ends the other, as a dead controller would.
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        sockets.delete(socket);
        other.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.once('close', () => sockets.forEach((socket) => socket.destroy()));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * A real worker process (synthetic runtime) on `--listen-metrics 127.0.0.1:0`: /healthz says 503 and why while the
 * controller cannot be reached, 200 once the session is up, 503 again when it is lost; /metrics counts the VM it runs,
 * the steps that started it (the startup script's too) and its idle tunnels.
 */
describe('worker /healthz and /metrics', () => {
  let controller: ControllerProcess;
  let worker: RunningProcess | undefined;
  let gate: Server | undefined;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-worker-metrics-'));
    controller = await startController();
  });
  afterAll(async () => {
    await worker?.stop();
    gate?.close();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('answers health by the session and serves the worker metrics', async () => {
    // The worker dials the relay's port, which nothing listens on yet.
    const relayPort = await freePort();
    const token = encodeBootstrapToken({
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
    });
    worker = startNodeProcess([
      WORKER_MAIN,
      `http://127.0.0.1:${relayPort}`,
      '--bootstrap-token',
      token,
      '--name',
      WORKER,
      '--runtime',
      'synthetic',
      '--data-dir',
      join(home, 'worker'),
      '--listen-metrics',
      '127.0.0.1:0',
    ]);
    const running = worker;
    const base = await waitFor('the listener', () => {
      const match = /serving \/healthz and \/metrics on (http:\/\/127\.0\.0\.1:\d+)/.exec(running.output());
      return match?.[1];
    });

    const unreachable = await waitFor('a failed attempt', async () => {
      const answer = await get(`${base}/healthz`);
      return /ECONNREFUSED/.test(answer.body) ? answer : undefined;
    });
    expect(unreachable.status).toBe(503);
    expect(JSON.parse(unreachable.body)).toMatchObject({ status: 'unavailable', worker: WORKER });

    gate = await relay(relayPort, controller.port);
    const up = await waitFor('the session', async () => {
      const answer = await get(`${base}/healthz`);
      return answer.status === 200 ? answer : undefined;
    });
    expect(JSON.parse(up.body)).toMatchObject({ status: 'ok', worker: WORKER });

    const admin = adminClient(controller);
    await admin.vms.create({
      name: 'measured',
      image: 'any',
      os: 'linux',
      startup_script: { script_content: 'echo measured' },
    });
    await untilRunning(admin, 'measured');
    const metrics = await waitFor('the startup script timed', async () => {
      const answer = await get(`${base}/metrics`);
      return sample(answer.body, 'grove_worker_vm_step_seconds_count{step="startup-script"}') === 1
        ? answer.body
        : undefined;
    });
    expect(sample(metrics, 'grove_worker_vms{state="running"}')).toBe(1);
    for (const step of ['clone', 'configure', 'boot']) {
      expect(sample(metrics, `grove_worker_vm_step_seconds_count{step="${step}"}`)).toBe(1);
    }
    expect(sample(metrics, 'grove_worker_tunnel_streams{state="idle"}')).toBeGreaterThan(0);
    expect(sample(metrics, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);

    await controller.stop();
    const lost = await waitFor('the session lost', async () => {
      const answer = await get(`${base}/healthz`);
      return answer.status === 503 ? answer : undefined;
    });
    expect(JSON.parse(lost.body)).toMatchObject({ status: 'unavailable', worker: WORKER });

    expect(await worker.stop()).toBe(0);
    expect(worker.output()).toMatch(/: stopped\n/);
  });
});

/** The same worker on the Tart runtime, driving the stand-in `tart` (e2e/tart): what Tart's output tells. */
describe('worker /metrics on the tart runtime (stand-in tart)', () => {
  const IMAGE = 'registry.grove.test/acme/ubuntu:latest';
  const MISSING = 'registry.grove.test/acme/missing:latest';
  let controller: ControllerProcess;
  let worker: RunningProcess | undefined;
  let tartHome: string;

  beforeAll(async () => {
    tartHome = mkdtempSync(join(tmpdir(), 'grove-e2e-metrics-tart-'));
    controller = await startController();
  });
  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    rmSync(tartHome, { recursive: true, force: true });
  });

  it('reports the bytes and time of an image pull and counts failed tart commands', async () => {
    const catalogue = {
      images: {
        [IMAGE]: { os: 'linux', cpu: 2, memoryMiB: 2048, diskGB: 10, compressedGB: 2.5 },
        [MISSING]: { os: 'linux', failure: '404' },
      },
    };
    worker = startNodeProcess(
      [
        WORKER_MAIN,
        controller.url,
        '--bootstrap-token',
        encodeBootstrapToken({ serviceAccountName: BOOTSTRAP_ADMIN, serviceAccountToken: controller.adminToken }),
        '--name',
        'metrics-tart',
        '--runtime',
        'tart',
        '--listen-metrics',
        '127.0.0.1:0',
      ],
      {
        ...process.env,
        PATH: `${STAND_IN_BIN}${delimiter}${process.env.PATH ?? ''}`,
        TART_HOME: tartHome,
        TART_STANDIN_BOOT_DELAY_MS: '50',
        TART_STANDIN_REGISTRY: JSON.stringify(catalogue),
      },
    );
    const running = worker;
    const base = await waitFor('the listener', () => {
      const match = /serving \/healthz and \/metrics on (http:\/\/127\.0\.0\.1:\d+)/.exec(running.output());
      return match?.[1];
    });
    await waitFor('the session', async () => (await get(`${base}/healthz`)).status === 200, 20_000);

    const admin = adminClient(controller);
    const common = { os: 'linux' as const, arch: ARCH, cpu: 2, memory: 2048, imagePullPolicy: 'Always' as const };
    await admin.vms.create({ name: 'pulled', image: IMAGE, ...common });
    await admin.vms.create({ name: 'missing', image: MISSING, ...common });
    await untilRunning(admin, 'pulled', 30_000);
    const metrics = await waitFor('the failed pull counted', async () => {
      const { body } = await get(`${base}/metrics`);
      return sample(body, 'grove_worker_tart_failures_total{command="pull"}') === 1 ? body : undefined;
    });
    // The stand-in announces `pulling disk (2.5 GB compressed)...` as Tart does; the clone after it finds the cache.
    expect(sample(metrics, 'grove_worker_image_pull_bytes_total{command="pull"}')).toBe(2.5e9);
    expect(sample(metrics, 'grove_worker_image_pull_seconds_count{command="pull"}')).toBe(1);
    expect(sample(metrics, 'grove_worker_image_pull_seconds_count{command="clone"}')).toBe(0);
    expect(sample(metrics, 'grove_worker_vm_step_seconds_count{step="pull"}')).toBe(1);
    expect(sample(metrics, 'grove_worker_vms{state="running"}')).toBe(1);
    expect(sample(metrics, 'grove_worker_vms{state="failed"}')).toBe(1);
  });
});
