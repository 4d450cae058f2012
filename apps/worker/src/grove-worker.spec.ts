import { get as httpGet } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { encodeBootstrapToken } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { loadWorkerConfig, type WorkerConfig } from './config/worker-config';
import { GroveWorker } from './grove-worker';
import { MetricsEndpoint } from './metrics/metrics-server.module';
import { FakeRuntime } from './test-support/fake-runtime';
import { sampleValue } from './test-support/metrics-text';
import { StandInController } from './test-support/stand-in-controller';
import { createWorkerApplication } from './worker.module';

const TOKEN = encodeBootstrapToken({ serviceAccountName: 'worker', serviceAccountToken: 'secret' });

/** A GET on the worker's listener: status, content type and body. */
function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }));
    }).once('error', reject);
  });
}

describe('the worker application', () => {
  let controller: StandInController;
  const apps: INestApplicationContext[] = [];
  const lines: string[] = [];

  /** Starts a worker application on the fake runtime with `grove worker run`'s flags, as main.ts does. */
  function start(...flags: string[]): Promise<INestApplicationContext> {
    return startWith(flags, (config) => config);
  }

  async function startWith(
    flags: string[],
    change: (config: WorkerConfig) => WorkerConfig,
  ): Promise<INestApplicationContext> {
    const config = change(loadWorkerConfig([controller.url, '--bootstrap-token', TOKEN, '--name', 'mac-1', ...flags]));
    const app = await createWorkerApplication({
      config,
      log: (line) => lines.push(line),
      runtime: new FakeRuntime(),
      machineId: 'machine-1',
      syncIntervalMs: 0,
    });
    apps.push(app);
    return app;
  }

  const port = (app: INestApplicationContext) => app.get(MetricsEndpoint).address!.port;

  beforeEach(async () => {
    lines.length = 0;
    controller = new StandInController();
    await controller.start();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await controller.stop();
  });

  /** The capabilities the worker registers with. */
  async function registeredCapabilities(...flags: string[]): Promise<string[]> {
    await start('--listen-metrics', 'off', ...flags);
    const registration = await waitFor('the registration', () =>
      controller.requests.find((r) => r.method === 'POST' && r.url === '/v1/workers'),
    );
    return (JSON.parse(registration.body) as { capabilities: string[] }).capabilities;
  }

  it('registers capability host-processes by default', async () => {
    expect(await registeredCapabilities()).toEqual([
      'vm-exposed-ports',
      'vm-endpoints',
      'tunnel-guest-agent',
      'host-processes',
    ]);
  });

  it('leaves host-processes out when started with --no-host-processes', async () => {
    expect(await registeredCapabilities('--no-host-processes')).toEqual([
      'vm-exposed-ports',
      'vm-endpoints',
      'tunnel-guest-agent',
    ]);
  });

  it('answers /healthz 503 with the reason while it has no session, 200 while it has one', async () => {
    await controller.stop();
    const app = await start('--listen-metrics', '127.0.0.1:0');
    const listener = port(app);
    expect(lines).toContain(`serving /healthz and /metrics on http://127.0.0.1:${listener}`);

    const down = await waitFor('a failed attempt', async () => {
      const answer = await get(listener, '/healthz');
      return /ECONNREFUSED/.test(answer.body) ? answer : undefined;
    });
    expect(down.status).toBe(503);
    expect(down.type).toBe('application/json');
    expect(JSON.parse(down.body)).toEqual({
      status: 'unavailable',
      worker: 'mac-1',
      controller: controller.url,
      reason: expect.stringContaining(`cannot reach the controller at ${controller.url}`) as string,
    });

    await controller.start();
    const up = await waitFor('the session', async () => {
      const answer = await get(listener, '/healthz');
      return answer.status === 200 ? answer : undefined;
    });
    expect(JSON.parse(up.body)).toMatchObject({ status: 'ok', worker: 'mac-1', controller: controller.url });
    expect(Date.parse((JSON.parse(up.body) as { sessionSince: string }).sessionSince)).not.toBeNaN();

    await controller.stop();
    await waitFor('the session lost', async () => (await get(listener, '/healthz')).status === 503);
  });

  it('serves its metrics on /metrics: the session’s idle tunnels and the process', async () => {
    const app = await start('--listen-metrics', '127.0.0.1:0');
    // The stand-in controller asks for one idle tunnel.
    const metrics = await waitFor('an idle tunnel', async () => {
      const answer = await get(port(app), '/metrics');
      return sampleValue(answer.body, 'grove_worker_tunnel_streams', { state: 'idle' }) === 1 ? answer : undefined;
    });
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sampleValue(metrics.body, 'grove_worker_tunnel_streams', { state: 'busy' })).toBe(0);
    expect(sampleValue(metrics.body, 'grove_worker_vms', { state: 'running' })).toBe(0);
    expect(metrics.body).toMatch(/^process_resident_memory_bytes /m);
    expect(await get(port(app), '/other')).toMatchObject({ status: 404 });
  });

  it('stops the worker when closed, then stops listening', async () => {
    const app = await start('--listen-metrics', '127.0.0.1:0');
    const listener = port(app);
    await waitFor('the session', async () => (await get(listener, '/healthz')).status === 200);
    const worker = app.get(GroveWorker);
    await app.close();
    await worker.finished;
    expect(worker.session.isStopped).toBe(true);
    await expect(get(listener, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });

  describe('when the port is taken', () => {
    let squatter: Server;
    let taken: number;
    beforeEach(async () => {
      squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
      taken = (squatter.address() as AddressInfo).port;
    });
    afterEach(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

    it('fails to start when the address was given', async () => {
      await expect(start('--listen-metrics', `127.0.0.1:${taken}`)).rejects.toThrow(
        `cannot serve /healthz and /metrics on 127.0.0.1:${taken} (--listen-metrics): listen EADDRINUSE`,
      );
    });

    it('warns and runs on without a listener when it is the default address (another worker has it)', async () => {
      const app = await startWith([], (config) => ({
        ...config,
        metricsListen: { host: '127.0.0.1', port: taken, given: false },
      }));
      expect(app.get(MetricsEndpoint).address).toBeUndefined();
      expect(lines).toContain(
        `warning: not serving /healthz and /metrics: 127.0.0.1:${taken} is in use (another worker on this host?); ` +
          'give each worker its own --listen-metrics HOST:PORT',
      );
      await waitFor('the session', () => controller.sessions.length > 0);
    });
  });

  it('says so and runs without a listener with --listen-metrics off', async () => {
    const app = await start('--listen-metrics', 'off');
    expect(app.get(MetricsEndpoint).address).toBeUndefined();
    expect(lines).toContain('not serving /healthz and /metrics (--listen-metrics off)');
  });
});
