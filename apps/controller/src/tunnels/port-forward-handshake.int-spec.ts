import type { AddressInfo } from 'node:net';
import { GroveClient } from '@grove/client';
import { ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { TunnelBroker, TunnelUnavailableError } from '../worker-sessions/tunnel-broker';

/** The answers of port-forward handshakes before any tunnel exists, and their order (credentials first). */
describe('port-forward handshakes', () => {
  let ctl: TestController;
  let base: string;
  let admin: GroveClient;
  const client = (name: string, token: string) =>
    new GroveClient({ url: base, serviceAccountName: name, serviceAccountToken: token });

  beforeAll(async () => {
    ctl = await TestController.start();
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(ctl.app.getHttpServer().address() as AddressInfo).port}`;
    admin = client('bootstrap-admin', ADMIN_TOKEN);
    await admin.workers.create({ name: 'pf-w1', machine_id: 'pf-m1' });
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await ctl.close();
  });

  it('checks the credentials first: 401 whatever the target and the query', async () => {
    const wrong = client('bootstrap-admin', 'wrong-token');
    for (const open of [
      () => wrong.workers.portForward('pf-w1', { port: 5900, waitSeconds: 0 }),
      () => wrong.workers.portForward('no-such-worker', { port: 5900, waitSeconds: 0 }),
      () => wrong.workers.portForward('pf-w1', { port: 0, waitSeconds: 0 }),
      () => wrong.vms.portForward('no-such-vm', { port: 22, waitSeconds: 0 }),
    ]) {
      await expect(open()).rejects.toMatchObject({ status: 401, message: 'invalid service account name or token' });
    }
    await expect(
      new GroveClient({ url: base }).workers.portForward('pf-w1', { port: 5900, waitSeconds: 0 }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it('answers 403 for missing roles and 400 for a bad port, whatever the target', async () => {
    const auth = await ctl.createAccount('pf-reader', ['compute:read']);
    const token = Buffer.from(auth.slice('Basic '.length), 'base64').toString().split(':')[1];
    await expect(
      client('pf-reader', token).workers.portForward('no-such-worker', { port: 5900, waitSeconds: 0 }),
    ).rejects.toMatchObject({ status: 403 });
    await expect(admin.workers.portForward('no-such-worker', { port: 0, waitSeconds: 0 })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('answers 404 for unknown and deleted targets and 408 for a VM that does not run', async () => {
    await expect(admin.workers.portForward('no-such-worker', { port: 5900, waitSeconds: 0 })).rejects.toMatchObject({
      status: 404,
    });
    await admin.workers.create({ name: 'pf-gone', machine_id: 'pf-m2' });
    await admin.workers.delete('pf-gone');
    await expect(admin.workers.portForward('pf-gone', { port: 5900, waitSeconds: 0 })).rejects.toMatchObject({
      status: 404,
    });
    await expect(admin.vms.portForward('no-such-vm', { port: 22, waitSeconds: 0 })).rejects.toMatchObject({
      status: 404,
    });
    // Not scheduled (the scheduler is off in these tests): pending until `wait` runs out.
    await admin.vms.create({ name: 'pf-pending', image: 'img' });
    await expect(admin.vms.portForward('pf-pending', { port: 22, waitSeconds: 0 })).rejects.toMatchObject({
      status: 408,
      message: 'VM "pf-pending" is not running yet: it is pending and not assigned to a worker',
    });
  });

  it('answers 503 naming the worker when it hands over no tunnel', async () => {
    // No worker process here: the tunnel is refused at once instead of after the 5 s wait for one.
    jest.spyOn(ctl.app.get(TunnelBroker), 'take').mockRejectedValue(new TunnelUnavailableError('not connected'));
    await expect(admin.workers.portForward('pf-w1', { port: 5900, waitSeconds: 0 })).rejects.toMatchObject({
      status: 503,
      message: 'cannot reach worker "pf-w1": not connected',
    });
  });

  it('refuses a worker link (grove-worker-link/1) whose session key is not the one of a session held here: 409', async () => {
    await expect(admin.workers.openTunnelLink('pf-w1', 'not-the-session-key')).rejects.toMatchObject({
      status: 409,
      message: 'this controller does not hold the session of worker "pf-w1" that the link names',
    });
    // The key is the credential: without the worker's account the answer is the same.
    await expect(
      new GroveClient({ url: base }).workers.openTunnelLink('pf-w1', 'not-the-session-key'),
    ).rejects.toMatchObject({ status: 409 });
  });

  it('answers a raw port-forward (grove-tunnel/1) as it answers a WebSocket one before the upgrade', async () => {
    await expect(admin.vms.portForwardStream('no-such-vm', { port: 22, waitSeconds: 0 })).rejects.toMatchObject({
      status: 404,
    });
    await expect(admin.workers.portForwardStream('pf-w1', { port: 0, waitSeconds: 0 })).rejects.toMatchObject({
      status: 400,
    });
    await expect(
      client('bootstrap-admin', 'wrong-token').workers.portForwardStream('pf-w1', { port: 22, waitSeconds: 0 }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
