import { credentials as grpcCredentials, Metadata, status as GrpcStatus, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadWorkerProtocol, type ControllerMessage__Output, type WorkerMessage } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerGrpcServer } from './worker-grpc.server';
import { WorkerSessionRegistry } from './worker-session.registry';

type Session = ClientDuplexStream<WorkerMessage, ControllerMessage__Output>;

describe('worker sessions over gRPC', () => {
  let ctl: TestController;
  let target: string;
  const proto = loadWorkerProtocol();
  const clients: { close(): void }[] = [];

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    const info = await ctl.request('GET', '/v1/controller/info');
    expect(info.body.grpcPort).toBe(ctl.app.get(WorkerGrpcServer).port);
    target = `127.0.0.1:${info.body.grpcPort}`;
  });
  afterAll(async () => {
    clients.forEach((c) => c.close());
    await ctl.close();
  });

  /** Opens a session with the given credentials and collects what the controller sends, and how it ends. */
  function open(name: string, token: string) {
    const client = new proto.grove.worker.v1.WorkerService(target, grpcCredentials.createInsecure());
    clients.push(client);
    const metadata = new Metadata();
    metadata.set('authorization', `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`);
    const session: Session = client.Session(metadata);
    const received: ControllerMessage__Output[] = [];
    const ended = new Promise<{ code: number; details: string }>((resolve) => {
      session.on('error', (err: { code: number; details: string }) => resolve(err));
      session.on('end', () => resolve({ code: GrpcStatus.OK, details: '' }));
    });
    session.on('data', (m: ControllerMessage__Output) => received.push(m));
    return { session, received, ended };
  }

  const hello = (worker: string): WorkerMessage => ({
    hello: { worker_name: worker, protocol_version: 1, capabilities: [], worker_version: 'test' },
  });

  it('refuses bad credentials, missing roles and unregistered workers with clear statuses', async () => {
    const bad = open('bootstrap-admin', 'wrong');
    bad.session.write(hello('x'));
    expect(await bad.ended).toMatchObject({
      code: GrpcStatus.UNAUTHENTICATED,
      details: 'invalid service account name or token',
    });

    const readerAuth = await ctl.createAccount('grpc-reader', ['compute:read']);
    const readerToken = Buffer.from(readerAuth.slice('Basic '.length), 'base64').toString().split(':')[1];
    const reader = open('grpc-reader', readerToken);
    reader.session.write(hello('x'));
    expect(await reader.ended).toMatchObject({ code: GrpcStatus.PERMISSION_DENIED });

    const unknown = open('bootstrap-admin', ADMIN_TOKEN);
    unknown.session.write(hello('never-registered'));
    const end = await unknown.ended;
    expect(end.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(end.details).toMatch(/worker "never-registered" is not registered/);
  });

  it('welcomes a registered worker, answers pings, and nudges it when the scheduler places a VM', async () => {
    await ctl.request('POST', '/v1/workers', {
      body: {
        name: 'grpc-w1',
        machine_id: 'm1',
        labels: { pin: 'grpc-w1' },
        resources: { 'org.cirruslabs.tart-vms': 2 },
      },
    });
    const w = open('bootstrap-admin', ADMIN_TOKEN);
    w.session.write(hello('grpc-w1'));
    await waitFor('welcome', () => w.received.length >= 1);
    expect(w.received[0]).toMatchObject({
      kind: 'welcome',
      welcome: { protocol_version: 1, ping_interval_ms: 10_000 },
    });
    await waitFor('registration', () => ctl.app.get(WorkerSessionRegistry).isConnected('grpc-w1'));

    w.session.write({ ping: { nonce: '42' } });
    await waitFor('pong', () => w.received.find((m) => m.kind === 'pong'));
    expect(w.received.find((m) => m.kind === 'pong')?.pong).toEqual({ nonce: '42' });

    await ctl.request('POST', '/v1/vms', { body: { name: 'grpc-vm', image: 'i', labels: { pin: 'grpc-w1' } } });
    await ctl.app.get(SchedulerService).idle();
    await waitFor('sync instruction', () => w.received.find((m) => m.kind === 'sync_vms'));

    // A second session of the same worker replaces the first, which is closed with a reason.
    const again = open('bootstrap-admin', ADMIN_TOKEN);
    again.session.write(hello('grpc-w1'));
    const first = await w.ended;
    expect(first.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(first.details).toMatch(/replaced by a newer session/);
    expect(ctl.app.get(WorkerSessionRegistry).isConnected('grpc-w1')).toBe(true);

    again.session.end();
    await again.ended;
    await waitFor('unregistration', () => !ctl.app.get(WorkerSessionRegistry).isConnected('grpc-w1'));
  });
});
