import type { AddressInfo } from 'node:net';
import { credentials as grpcCredentials, Metadata, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { replicaServiceClient, type TunnelFrame } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { WebSocket } from 'ws';
import { ReplicaRegistry } from '../cluster/replica-registry';
import { SchedulerService } from '../scheduler/scheduler.service';
import { FakeWorker } from '../test-support/fake-worker';
import { rawRequest } from '../test-support/raw-http';
import { ADMIN, TestController } from '../test-support/test-controller';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';

type RelayCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

const HANDSHAKE = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

/**
 * `GET /v1/vms/{name}/port-forward?hostProcess=NAME` (issue 12, orchard-2026.md §1.2.3) against a controller with a
 * fake worker connected over gRPC: roles, the answers before a session (400, 404, 503), the open frame the worker gets
 * (directly and relayed through a replica), bytes both ways, and the audit event.
 */
describe('port-forward to a host process', () => {
  let ctl: TestController;
  let port: number;
  let grpcTarget: string;
  let worker: FakeWorker;
  const oldWorker = 'hp-old-worker';
  const echo = { name: 'echo', program: '/usr/local/bin/echo-server' };

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
    grpcTarget = `127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`;
    for (const [name, capabilities] of [
      ['hp-worker', ['host-processes']],
      [oldWorker, []],
    ] as const) {
      const res = await ctl.request('POST', '/v1/workers', {
        body: { name, machine_id: name, resources: { 'org.cirruslabs.tart-vms': 10 }, capabilities },
      });
      expect(res.status).toBe(200);
    }
    worker = await FakeWorker.connect(grpcTarget, 'hp-worker', ADMIN, ['host-processes']);
    await runningVm('hp-vm', 'hp-worker', [echo]);
  });
  afterAll(async () => {
    worker?.close();
    await ctl.close();
  });

  /** A VM with these host processes, placed on `on` and reported running. */
  async function runningVm(name: string, on: string, hostProcesses: object[]): Promise<string> {
    const labels = { 'org.cirruslabs.orchard.worker-name': on };
    expect((await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels, hostProcesses } })).status).toBe(
      200,
    );
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    await waitFor('placement', async () => (await ctl.request('GET', `/v1/vms/${name}`)).body.worker === on);
    await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'running' } });
    return name;
  }

  /** The answer to a WebSocket handshake that does not get through (or 101 when it does). */
  async function handshake(query: string, auth = ADMIN, vm = 'hp-vm'): Promise<{ status: number; body: any }> {
    const res = await rawRequest(port, {
      method: 'GET',
      path: `/v1/vms/${vm}/port-forward?${query}`,
      headers: { ...HANDSHAKE, authorization: auth },
    });
    const text = res.body.toString();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  it('needs host-process:connect besides compute:connect or compute:write, and says so', async () => {
    const both =
      'all of the following roles must be present: host-process:connect, and any of the following: compute:write, ' +
      'compute:connect';
    for (const roles of [['compute:read'], ['compute:connect'], ['compute:write'], ['host-process:connect']]) {
      const auth = await ctl.createAccount(`hp-${roles.join('-').replace(/:/g, '_')}`, roles);
      expect(await handshake('hostProcess=echo&wait=0', auth)).toEqual({ status: 403, body: { message: both } });
    }
    const connect = await ctl.createAccount('hp-connect', ['compute:connect', 'host-process:connect']);
    expect((await handshake('hostProcess=nope&wait=0', connect)).status).toBe(404);
  });

  it('lists only roles that would do for the guest agent (issue 12 leftover)', async () => {
    const reader = await ctl.createAccount('hp-reader', ['compute:read']);
    expect(await handshake('target=tart-guest-agent&wait=0', reader)).toEqual({
      status: 403,
      body: { message: 'any of the following roles must be present: compute:write, compute:connect:tart-guest-agent' },
    });
    expect(await handshake('port=22&wait=0', reader)).toEqual({
      status: 403,
      body: { message: 'any of the following roles must be present: compute:write, compute:connect' },
    });
  });

  it('refuses hostProcess together with port or target (400)', async () => {
    expect(await handshake('hostProcess=echo&port=22')).toEqual({
      status: 400,
      body: {
        message: 'invalid input: hostProcess cannot be combined with port',
        errors: [{ field: 'hostProcess', message: 'hostProcess cannot be combined with port' }],
      },
    });
    expect((await handshake('hostProcess=echo&target=tart-guest-agent')).status).toBe(400);
  });

  it('answers 404 for a host process the VM does not declare, at once even while the VM is pending', async () => {
    expect(await handshake('hostProcess=nope&wait=0')).toEqual({
      status: 404,
      body: { message: 'host process "nope" is not declared on VM "hp-vm"' },
    });
    // Pending (pinned to a worker that does not exist): 404 rather than 408 once `wait` is over.
    await ctl.request('POST', '/v1/vms', {
      body: { name: 'hp-pending', image: 'i', labels: { pin: 'nowhere' }, hostProcesses: [echo] },
    });
    expect(await handshake('hostProcess=other&wait=0', ADMIN, 'hp-pending')).toEqual({
      status: 404,
      body: { message: 'host process "other" is not declared on VM "hp-pending"' },
    });
    expect((await handshake('hostProcess=echo&wait=0', ADMIN, 'hp-pending')).status).toBe(408);
    expect((await handshake('hostProcess=echo&wait=0', ADMIN, 'no-such-vm')).body).toEqual({
      message: 'VM "no-such-vm" not found',
    });
  });

  it('answers 503 when the VM’s worker lacks capability host-processes', async () => {
    // Placed before it had host processes: the scheduler does not move it.
    await runningVm('hp-on-old', oldWorker, []);
    const update = await ctl.request('PUT', '/v1/vms/hp-on-old', {
      body: { name: 'hp-on-old', hostProcesses: [echo] },
    });
    expect(update.status).toBe(200);
    expect(await handshake('hostProcess=echo&wait=0', ADMIN, 'hp-on-old')).toEqual({
      status: 503,
      body: {
        message:
          `worker "${oldWorker}" of VM "hp-on-old" cannot forward to host processes: it lacks the capability ` +
          'host-processes (upgrade the worker)',
      },
    });
  });

  it('opens the session with the host process named, carries bytes both ways, and audits it', async () => {
    const before = worker.opened.length;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/vms/hp-vm/port-forward?hostProcess=echo&wait=5`, {
      headers: { authorization: ADMIN },
    });
    const received: Buffer[] = [];
    ws.on('message', (data: Buffer) => received.push(data));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(Buffer.from('hello, host process'));
    await waitFor('the echo', () => Buffer.concat(received).toString() === 'hello, host process');
    const vmUid = (await ctl.request('GET', '/v1/vms/hp-vm')).body.uid;
    expect(worker.opened[before]).toEqual({
      kind: 'open',
      session: expect.any(String),
      vmUid,
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
    });
    ws.close();

    const audit = await waitFor('the audit event', async () => {
      const events = (await ctl.request('GET', '/v1/vms/hp-vm/events')).body as { kind: string; payload: string }[];
      return events.find((e) => e.kind === 'audit');
    });
    expect(JSON.parse(audit.payload)).toMatchObject({
      type: 'port-forward',
      session: worker.opened[before].session,
      account: 'bootstrap-admin',
      vm: 'hp-vm',
      worker: 'hp-worker',
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
      bytesToTarget: 19,
      bytesFromTarget: 19,
    });
  });

  it('passes the host process through a relay between replicas unchanged', async () => {
    const Replica = replicaServiceClient();
    const client = new Replica(grpcTarget, grpcCredentials.createInsecure()) as unknown as Client & {
      Relay(metadata: Metadata): RelayCall;
    };
    const metadata = new Metadata();
    metadata.set('x-grove-replica', 'another-replica');
    metadata.set('x-grove-relay-token', ctl.app.get(ReplicaRegistry).relayToken);
    metadata.set('x-grove-worker-name', 'hp-worker');
    const relay = client.Relay(metadata);
    const frames: TunnelFrame[] = [];
    relay.on('data', (frame: TunnelFrame | undefined) => frame && frames.push(frame));
    relay.on('error', () => undefined);
    await new Promise((resolve) => relay.once('metadata', resolve));
    const before = worker.opened.length;
    relay.write({
      kind: 'open',
      session: 'relayed-1',
      vmUid: 'uid-x',
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
    });
    await waitFor('the open frame at the worker', () => worker.opened.length > before);
    expect(worker.opened[before]).toEqual({
      kind: 'open',
      session: 'relayed-1',
      vmUid: 'uid-x',
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
    });
    await waitFor('opened', () => frames.some((f) => f.kind === 'opened'));
    relay.cancel();
    client.close();
  });
});
