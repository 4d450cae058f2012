import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GroveClient } from '@grove/client';
import { parsePrometheusText, sampleValue } from '../test-support/prometheus-text';
import { ADMIN, ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { TunnelSessionService } from './tunnel-session.service';

/**
 * Port-forward upgrades taken before the HTTP routing (PortForwardFastLane): what the lane takes reaches the session
 * service without Fastify and Nest, and every answer stays the one the routing gives.
 */
describe('port-forward fast lane', () => {
  let ctl: TestController;
  let base: string;
  let admin: GroveClient;
  const client = (name: string, token: string) =>
    new GroveClient({ url: base, serviceAccountName: name, serviceAccountToken: token });

  /** The status and body of a raw port-forward upgrade to `path` (with the admin's credentials unless given). */
  function upgrade(path: string, authorization = ADMIN): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, {
        headers: { connection: 'Upgrade', upgrade: 'grove-tunnel/1', authorization },
      });
      req.once('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, body: '' });
      });
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    ctl = await TestController.start();
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(ctl.app.getHttpServer().address() as AddressInfo).port}`;
    admin = client('bootstrap-admin', ADMIN_TOKEN);
    await admin.workers.create({ name: 'fl-w1', machine_id: 'fl-m1' });
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await ctl.close();
  });

  it('hands a plain port-forward to the session service without the routing', async () => {
    const portForward = jest.spyOn(ctl.app.get(TunnelSessionService), 'portForward');
    await expect(upgrade('/v1/workers/no-such-worker/port-forward?port=22&wait=0')).resolves.toEqual({
      status: 404,
      body: JSON.stringify({ message: 'worker "no-such-worker" not found' }),
    });
    expect(portForward).toHaveBeenCalledTimes(1);
    expect(portForward.mock.calls[0][0]).toMatchObject({
      target: { kind: 'worker', name: 'no-such-worker' },
      to: { kind: 'port', port: 22 },
      waitSeconds: 0,
      account: { name: 'bootstrap-admin' },
      remoteAddress: '127.0.0.1',
    });
  });

  it('times and counts its refusals as the routing does, by route template', async () => {
    await upgrade('/v1/vms/fl-no-such-vm/port-forward?port=8080&wait=0');
    const res = await ctl.request('GET', '/metrics');
    const samples = parsePrometheusText(res.body as string);
    expect(
      sampleValue(samples, 'grove_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/vms/:name/port-forward',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'grove_sessions_total', { kind: 'port-forward', result: 'refused' })).toBe(1);
  });

  it.each([
    ['a port out of range', '/v1/workers/fl-w1/port-forward?port=0', 400, 'port must be an integer from 1 to 65535'],
    ['a parameter given twice', '/v1/workers/fl-w1/port-forward?port=22&port=23', 400, 'port must be'],
    ['a wait out of range', '/v1/workers/fl-w1/port-forward?port=22&wait=70000', 400, 'wait must be an integer'],
    ['a percent-encoding that does not decode', '/v1/workers/%E0%A4%A/port-forward?port=22', 400, ''],
  ])('leaves %s to the routing, which refuses it', async (_what, path, status, message) => {
    const portForward = jest.spyOn(ctl.app.get(TunnelSessionService), 'portForward');
    const answer = await upgrade(path);
    expect(answer.status).toBe(status);
    expect(answer.body).toContain(message);
    expect(portForward).not.toHaveBeenCalled();
  });

  it('leaves an account without the roles to the routing: 403 with the roles it lacks', async () => {
    const reader = await ctl.createAccount('fl-reader', ['compute:read']);
    const portForward = jest.spyOn(ctl.app.get(TunnelSessionService), 'portForward');
    await expect(upgrade('/v1/vms/fl-vm/port-forward?port=22', reader)).resolves.toEqual({
      status: 403,
      body: JSON.stringify({ message: 'any of the following roles must be present: compute:write, compute:connect' }),
    });
    expect(portForward).not.toHaveBeenCalled();
  });

  // Last: it throttles this test's address for the rest of the file.
  it('refuses the right credentials from an address throttled for failed logins, as the routing does (429)', async () => {
    const wrong = Buffer.from('bootstrap-admin:wrong').toString('base64');
    for (let i = 0; i < 20; i++) {
      expect((await upgrade('/v1/workers/fl-w1/port-forward?port=22', `Basic ${wrong}`)).status).toBe(401);
    }
    const portForward = jest.spyOn(ctl.app.get(TunnelSessionService), 'portForward');
    const answer = await upgrade('/v1/workers/fl-w1/port-forward?port=22&wait=0');
    expect(answer.status).toBe(429);
    expect(answer.body).toContain('too many failed logins from 127.0.0.1');
    expect(portForward).not.toHaveBeenCalled();
  });
});
