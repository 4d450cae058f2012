import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { Client, type ClientChannel } from 'ssh2';
import { SchedulerService } from '../scheduler/scheduler.service';
import { SshGatewayServer } from '../ssh-gateway/ssh-gateway.server';
import { FakeWorker } from '../test-support/fake-worker';
import { parsePrometheusText, sampleValue } from '../test-support/prometheus-text';
import { ADMIN, ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { WorkerGrpcServer } from '../worker-sessions/worker-grpc.server';

const WORKER = 'ssh-metrics-worker';

/**
 * Sessions of the SSH gateway in the metrics (issue 14): a command through `sa+vm` logins and a `direct-tcpip` channel
 * to port 22 count as `ssh`, a channel to another port as `port-forward`, a channel to a VM that does not exist as
 * refused.
 */
describe('SSH gateway sessions in /metrics', () => {
  let ctl: TestController;
  let worker: FakeWorker;
  let sshPort: number;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-ssh-metrics-'));
    ctl = await TestController.start({
      dataDir,
      grpcListen: { host: '127.0.0.1', port: 0 },
      sshListen: { host: '127.0.0.1', port: 0 },
      schedulerIntervalMs: 60_000,
    });
    sshPort = ctl.app.get(SshGatewayServer).port!;
    const res = await ctl.request('POST', '/v1/workers', {
      body: { name: WORKER, machine_id: WORKER, resources: { 'org.cirruslabs.tart-vms': 2 } },
    });
    expect(res.status).toBe(200);
    worker = await FakeWorker.connect(`127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`, WORKER, ADMIN, [], {
      execOnHost: true,
    });
    const labels = { 'org.cirruslabs.orchard.worker-name': WORKER };
    expect((await ctl.request('POST', '/v1/vms', { body: { name: 'ssh-vm', image: 'i', labels } })).status).toBe(200);
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    await waitFor('placement', async () => (await ctl.request('GET', '/v1/vms/ssh-vm')).body.worker === WORKER);
    await ctl.request('PUT', '/v1/vms/ssh-vm/state', { body: { status: 'running' } });
  });
  afterAll(async () => {
    worker?.close();
    await ctl?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
    return sampleValue(parsePrometheusText((await ctl.request('GET', '/metrics')).body as string), name, labels);
  }

  function login(username: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      client
        .once('ready', () => resolve(client))
        .once('error', reject)
        .connect({ host: '127.0.0.1', port: sshPort, username, password: ADMIN_TOKEN });
    });
  }

  /** Sends `data` through the channel, half-closes it and resolves with everything read until it closed. */
  function roundTrip(channel: ClientChannel, data: string): Promise<string> {
    return new Promise((resolve) => {
      let text = '';
      channel.on('data', (chunk: Buffer) => (text += chunk.toString()));
      channel.once('close', () => resolve(text));
      channel.end(data);
    });
  }

  it('counts a command run through a VM login as ssh, with its bytes', async () => {
    const client = await login('bootstrap-admin+ssh-vm');
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec('cat', (err, stream) => (err ? reject(err) : resolve(stream))),
    );
    expect(await roundTrip(channel, 'over ssh')).toBe('over ssh');
    client.end();
    await waitFor('the count', async () => (await value('grove_sessions_total', { kind: 'ssh', result: 'ok' })) === 1);
    expect(await value('grove_session_bytes_total', { kind: 'ssh', direction: 'to-target' })).toBe(8);
    expect(await value('grove_session_bytes_total', { kind: 'ssh', direction: 'from-target' })).toBe(8);
  });

  it('counts direct-tcpip channels by port, and a refused one', async () => {
    const client = await login('bootstrap-admin');
    const forward = (host: string, port: number) =>
      new Promise<ClientChannel>((resolve, reject) =>
        client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream))),
      );
    expect(await roundTrip(await forward('ssh-vm', 22), 'ssh bytes')).toBe('ssh bytes');
    expect(await roundTrip(await forward('ssh-vm', 8080), 'web')).toBe('web');
    await expect(forward('no-such-vm', 8080)).rejects.toThrow('VM "no-such-vm" not found');
    client.end();
    await waitFor('the counts', async () => (await value('grove_sessions_total', { kind: 'ssh', result: 'ok' })) === 2);
    await waitFor(
      'the port-forward',
      async () => (await value('grove_sessions_total', { kind: 'port-forward', result: 'ok' })) === 1,
    );
    expect(await value('grove_session_bytes_total', { kind: 'port-forward', direction: 'from-target' })).toBe(3);
    expect(await value('grove_sessions_total', { kind: 'port-forward', result: 'refused' })).toBe(1);
    expect(await value('grove_sessions_active', { kind: 'ssh' })).toBe(0);
  });
});
