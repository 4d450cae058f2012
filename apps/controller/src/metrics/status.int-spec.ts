import { waitFor } from '@grove/testing';
import { SchedulerService } from '../scheduler/scheduler.service';
import { FakeWorker } from '../test-support/fake-worker';
import { ADMIN, TestController } from '../test-support/test-controller';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';

/**
 * `GET /v1/status` (issue 14), what `grove status` shows: workers with state, session and capacity, VMs by status, the
 * pending VMs with why they wait, and sessions in progress.
 */
describe('GET /v1/status', () => {
  let ctl: TestController;
  let worker: FakeWorker;

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    for (const [name, paused] of [
      ['status-a', false],
      ['status-b', true],
    ] as const) {
      const res = await ctl.request('POST', '/v1/workers', {
        body: {
          name,
          machine_id: name,
          scheduling_paused: paused,
          resources: { 'org.cirruslabs.tart-vms': 2, 'org.cirruslabs.memory-mib': 16384 },
        },
      });
      expect(res.status).toBe(200);
    }
    worker = await FakeWorker.connect(`127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`, 'status-a', ADMIN, []);
  });
  afterAll(async () => {
    worker?.close();
    await ctl?.close();
  });

  async function create(name: string, body: object = {}): Promise<void> {
    expect((await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', ...body } })).status).toBe(200);
  }

  it('shows workers, VMs by status, pending VMs with their reason, and sessions', async () => {
    await create('st-running', { resources: { 'org.cirruslabs.memory-mib': 4096 } });
    await create('st-starting');
    await create('st-nowhere', { labels: { pool: 'gpu' } });
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    await waitFor('placement', async () => (await ctl.request('GET', '/v1/vms/st-running')).body.worker === 'status-a');
    expect((await ctl.request('PUT', '/v1/vms/st-running/state', { body: { status: 'running' } })).status).toBe(200);
    // The worker's session is recorded in the replicas' registry shortly after it connected.
    const status = await waitFor('the session', async () => {
      const res = await ctl.request('GET', '/v1/status');
      expect(res.status).toBe(200);
      return res.body.workers[0].session === 'up' ? res.body : undefined;
    });

    expect(status.workers).toEqual([
      {
        name: 'status-a',
        state: 'online',
        session: 'up',
        sessionReplica: status.replica,
        lastSeen: expect.any(String),
        vms: 2,
        resources: {
          'org.cirruslabs.tart-vms': { used: 2, total: 2 },
          'org.cirruslabs.memory-mib': { used: 4096, total: 16384 },
        },
      },
      {
        name: 'status-b',
        state: 'paused',
        session: 'none',
        lastSeen: expect.any(String),
        vms: 0,
        resources: {
          'org.cirruslabs.tart-vms': { used: 0, total: 2 },
          'org.cirruslabs.memory-mib': { used: 0, total: 16384 },
        },
      },
    ]);
    expect(status.vms).toEqual({ pending: 2, running: 1, failed: 0, total: 3 });
    const reason = (await ctl.request('GET', '/v1/vms/st-nowhere')).body.status_message as string;
    expect(reason).not.toBe('');
    expect(status.pending).toEqual({
      count: 2,
      starting: 1,
      reasons: [{ reason, count: 1 }],
      oldest: [
        { name: 'st-starting', createdAt: expect.any(String), worker: 'status-a', status_message: '' },
        { name: 'st-nowhere', createdAt: expect.any(String), status_message: reason },
      ],
    });
    expect(status.sessions).toEqual({
      replica: status.replica,
      active: { 'port-forward': 0, exec: 0, ssh: 0, vnc: 0 },
    });
  });

  it('needs compute:read', async () => {
    expect((await ctl.request('GET', '/v1/status', { auth: null })).status).toBe(401);
    const admin = await ctl.createAccount('status-admin-reader', ['admin:read']);
    expect(await ctl.request('GET', '/v1/status', { auth: admin })).toMatchObject({
      status: 403,
      body: { message: 'all of the following roles must be present: compute:read' },
    });
    const reader = await ctl.createAccount('status-reader', ['compute:read']);
    expect((await ctl.request('GET', '/v1/status', { auth: reader })).status).toBe(200);
  });
});
