import type { AddressInfo } from 'node:net';
import { waitFor } from '@grove/testing';
import { WebSocket } from 'ws';
import { SchedulerService } from '../scheduler/scheduler.service';
import { FakeWorker } from '../test-support/fake-worker';
import { parsePrometheusText, sampleValue, type Sample } from '../test-support/prometheus-text';
import { ADMIN, basic, TestController } from '../test-support/test-controller';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';

const WORKER = 'metrics-worker';
const PIN = { 'org.cirruslabs.orchard.worker-name': WORKER };

/**
 * `GET /metrics` (issue 14) of a controller with a fake worker connected over gRPC: who may read it, and the numbers a
 * user watches change — a VM counted under its status and worker, the worker's capacity, scheduling and start times,
 * a port-forward with its bytes, requests by route template.
 */
describe('GET /metrics', () => {
  let ctl: TestController;
  let port: number;
  let worker: FakeWorker;
  let reader: string;

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
    const res = await ctl.request('POST', '/v1/workers', {
      body: { name: WORKER, machine_id: WORKER, resources: { 'org.cirruslabs.tart-vms': 4 } },
    });
    expect(res.status).toBe(200);
    worker = await FakeWorker.connect(`127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`, WORKER, ADMIN, [], {
      execOnHost: true,
    });
    reader = await ctl.createAccount('metrics-reader', ['admin:read']);
  });
  afterAll(async () => {
    worker?.close();
    await ctl?.close();
  });

  async function scrape(auth = reader): Promise<Sample[]> {
    const res = await ctl.request('GET', '/metrics', { auth });
    expect(res.status).toBe(200);
    return parsePrometheusText(res.body as string);
  }

  async function value(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    return sampleValue(await scrape(), name, labels);
  }

  /** Waits until the sample has `expected`, and fails with the last value seen. */
  async function expectSample(name: string, labels: Record<string, string>, expected: number): Promise<void> {
    let last: number | undefined;
    try {
      await waitFor(`${name}${JSON.stringify(labels)} = ${expected}`, async () => {
        last = await value(name, labels);
        return last === expected;
      });
    } catch {
      expect({ name, labels, value: last }).toEqual({ name, labels, value: expected });
    }
  }

  async function schedule(): Promise<void> {
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
  }

  async function runningVm(name: string): Promise<void> {
    expect((await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels: PIN } })).status).toBe(200);
    await schedule();
    await waitFor('placement', async () => (await ctl.request('GET', `/v1/vms/${name}`)).body.worker === WORKER);
    expect((await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'running' } })).status).toBe(200);
  }

  it('is Prometheus text for admin:read through HTTP Basic; 401 without credentials, 403 for compute:read', async () => {
    const ok = await ctl.request('GET', '/metrics', { auth: reader });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheusText(ok.body as string);
    // prom-client's process and Node metrics come along.
    expect(sampleValue(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    expect(await ctl.request('GET', '/metrics', { auth: null })).toMatchObject({
      status: 401,
      body: { message: 'authentication required: use HTTP Basic with a service account name and token' },
    });
    const computeReader = await ctl.createAccount('metrics-compute-reader', ['compute:read']);
    expect(await ctl.request('GET', '/metrics', { auth: computeReader })).toMatchObject({
      status: 403,
      body: { message: 'all of the following roles must be present: admin:read' },
    });
    expect((await ctl.request('GET', '/metrics', { auth: basic('metrics-reader', 'wrong-token') })).status).toBe(401);
  });

  it('counts a VM under its status and worker, with the worker’s capacity and the time to schedule and start', async () => {
    const passes = (await value('grove_scheduler_pass_seconds_count')) ?? 0;
    expect(await value('grove_workers', { state: 'online' })).toBe(1);
    await expectSample('grove_worker_session_up', { worker: WORKER }, 1);
    const total = { worker: WORKER, resource: 'org.cirruslabs.tart-vms', kind: 'total' };
    const used = { ...total, kind: 'used' };
    expect(await value('grove_worker_resources', total)).toBe(4);
    expect(await value('grove_worker_resources', used)).toBe(0);

    // A create asks for a pass at once: the worker is paused so that the VM stays pending until the test lets it go.
    const pause = (paused: boolean) =>
      ctl.request('PUT', `/v1/workers/${WORKER}`, { body: { name: WORKER, scheduling_paused: paused } });
    expect((await pause(true)).status).toBe(200);
    expect((await ctl.request('POST', '/v1/vms', { body: { name: 'm-vm', image: 'i', labels: PIN } })).status).toBe(
      200,
    );
    await schedule();
    expect(await value('grove_vms', { status: 'pending', worker: '' })).toBe(1);
    expect(await value('grove_vms', { status: 'running', worker: WORKER })).toBe(0);
    expect(await value('grove_scheduling_delay_seconds_count')).toBe(0);

    expect((await pause(false)).status).toBe(200);
    await schedule();
    expect(await value('grove_vms', { status: 'pending', worker: '' })).toBe(0);
    expect(await value('grove_vms', { status: 'pending', worker: WORKER })).toBe(1);
    expect(await value('grove_worker_resources', used)).toBe(1);
    expect(await value('grove_scheduling_delay_seconds_count')).toBe(1);
    expect(await value('grove_scheduler_pass_seconds_count')).toBeGreaterThan(passes);

    expect(await value('grove_vm_start_seconds_count', { worker: WORKER })).toBeUndefined();
    expect((await ctl.request('PUT', '/v1/vms/m-vm/state', { body: { status: 'running' } })).status).toBe(200);
    expect(await value('grove_vms', { status: 'running', worker: WORKER })).toBe(1);
    expect(await value('grove_vm_start_seconds_count', { worker: WORKER })).toBe(1);
    // A later report of the running VM is no second start.
    await ctl.request('PUT', '/v1/vms/m-vm/state', { body: { status: 'running', status_message: 'still' } });
    expect(await value('grove_vm_start_seconds_count', { worker: WORKER })).toBe(1);

    expect((await pause(true)).status).toBe(200);
    expect(await value('grove_workers', { state: 'paused' })).toBe(1);
    expect(await value('grove_workers', { state: 'online' })).toBe(0);
    expect((await pause(false)).status).toBe(200);
    expect(await value('grove_workers', { state: 'online' })).toBe(1);
  });

  it('counts a port-forward while it runs and when it ends, with its bytes; VNC apart; refusals', async () => {
    await runningVm('m-pf');
    const forward = async (vmPort: number, payload: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/vms/m-pf/port-forward?port=${vmPort}&wait=5`, {
        headers: { authorization: ADMIN },
      });
      const received: Buffer[] = [];
      ws.on('message', (data: Buffer) => received.push(data));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(Buffer.from(payload));
      await waitFor('the echo', () => Buffer.concat(received).toString() === payload);
      return ws;
    };
    const ws = await forward(8080, 'hello, metrics');
    expect(await value('grove_sessions_active', { kind: 'port-forward' })).toBe(1);
    expect(await value('grove_session_setup_seconds_count', { kind: 'port-forward' })).toBe(1);
    ws.close();
    await expectSample('grove_sessions_total', { kind: 'port-forward', result: 'ok' }, 1);
    expect(await value('grove_sessions_active', { kind: 'port-forward' })).toBe(0);
    expect(await value('grove_session_bytes_total', { kind: 'port-forward', direction: 'to-target' })).toBe(14);
    expect(await value('grove_session_bytes_total', { kind: 'port-forward', direction: 'from-target' })).toBe(14);

    (await forward(5900, 'screen')).close();
    await expectSample('grove_sessions_total', { kind: 'vnc', result: 'ok' }, 1);
    expect(await value('grove_session_bytes_total', { kind: 'vnc', direction: 'from-target' })).toBe(6);
    expect(await value('grove_sessions_total', { kind: 'port-forward', result: 'ok' })).toBe(1);

    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/vms/no-such-vm/port-forward?port=22&wait=0`, {
        headers: { authorization: ADMIN },
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(404);
    expect(await value('grove_sessions_total', { kind: 'ssh', result: 'refused' })).toBe(1);
    expect((await ctl.request('POST', '/v1/vms/no-such-vm/exec', { body: { command: 'true' } })).status).toBe(404);
    expect(await value('grove_sessions_total', { kind: 'exec', result: 'refused' })).toBe(1);
  });

  it('counts an exec with the bytes of its stdin and output', async () => {
    await runningVm('m-exec');
    const res = await fetch(`http://127.0.0.1:${port}/v1/vms/m-exec/exec`, {
      method: 'POST',
      headers: { authorization: ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'cat', stdin: 'to the VM and back' }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"event":"exit","code":0');
    await expectSample('grove_sessions_total', { kind: 'exec', result: 'ok' }, 1);
    expect(await value('grove_session_bytes_total', { kind: 'exec', direction: 'to-target' })).toBe(18);
    expect(await value('grove_session_bytes_total', { kind: 'exec', direction: 'from-target' })).toBe(18);
    expect(await value('grove_session_setup_seconds_count', { kind: 'exec' })).toBe(1);
    expect(await value('grove_sessions_active', { kind: 'exec' })).toBe(0);
  });

  it('times requests by route template, never by path', async () => {
    await ctl.request('GET', '/v1/vms/m-template-vm');
    await ctl.request('GET', '/v1/no-such-thing/m-template-path');
    const samples = await scrape();
    expect(
      sampleValue(samples, 'grove_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/vms/:name',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(samples, 'grove_http_request_duration_seconds_count', {
        method: 'GET',
        route: 'unmatched',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    const paths = samples.filter((s) => Object.values(s.labels).some((v) => v.includes('m-template')));
    expect(paths).toEqual([]);
    expect(sampleValue(samples, 'grove_db_pool_connections', { state: 'idle' })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(samples, 'grove_db_pool_connections', { state: 'waiting' })).toBe(0);
  });
});

describe('GET /metrics with --metrics-public', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start({ metricsPublic: true });
  });
  afterAll(async () => {
    await ctl?.close();
  });

  it('needs no credentials; the API still does', async () => {
    const res = await ctl.request('GET', '/metrics', { auth: null });
    expect(res.status).toBe(200);
    expect(sampleValue(parsePrometheusText(res.body as string), 'grove_workers', { state: 'online' })).toBe(0);
    expect((await ctl.request('GET', '/v1/vms', { auth: null })).status).toBe(401);
  });
});
