import type { AddressInfo } from 'node:net';
import { HALF_CLOSE_PROTOCOL } from '@grove/client';
import { WebSocket } from 'ws';
import { FakeWorker } from '../../test-support/fake-worker';
import { runningVm } from '../../test-support/running-vm';
import { ADMIN, TestController } from '../../test-support/test-controller';
import { WorkerGrpcServer } from '../../worker-sessions/worker-grpc.server';
import { CONSOLE_PROTOCOL } from './websocket-credentials';

const credentialProtocol = (name: string, token: string) =>
  `grove.basic.${Buffer.from(`${name}:${token}`).toString('base64url')}`;

/** The answer of a WebSocket handshake: the socket once open, or the refusal's status. */
function dial(url: string, protocols: string[]): Promise<{ ws: WebSocket; protocol: string } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => {
      // Frames that came with the handshake's answer wait for the test's listener.
      ws.pause();
      resolve({ ws, protocol: ws.protocol });
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once('error', reject);
  });
}

/**
 * Browser WebSockets authenticate with the `grove.basic.*` subprotocol (issue 16, docs/console.md): the exec and the
 * port-forward WebSockets open with it alone, a wrong token is 401, and the credential protocol is never selected.
 */
describe('WebSocket credentials in the subprotocol', () => {
  let ctl: TestController;
  let base: string;
  let worker: FakeWorker;
  let connect: string;
  let reader: string;

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    base = `ws://127.0.0.1:${(ctl.app.getHttpServer().address() as AddressInfo).port}`;
    const body = { name: 'wsc-w', machine_id: 'wsc-w', resources: { 'org.cirruslabs.tart-vms': 4 } };
    expect((await ctl.request('POST', '/v1/workers', { body })).status).toBe(200);
    worker = await FakeWorker.connect(`127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`, 'wsc-w', ADMIN, [], {
      execOnHost: true,
    });
    await runningVm(ctl, 'wsc-vm', 'wsc-w');
    const token = (auth: string) => Buffer.from(auth.slice('Basic '.length), 'base64').toString().split(':')[1];
    connect = credentialProtocol('wsc-connect', token(await ctl.createAccount('wsc-connect', ['compute:connect'])));
    reader = credentialProtocol('wsc-reader', token(await ctl.createAccount('wsc-reader', ['compute:read'])));
  });

  afterAll(async () => {
    worker?.close();
    await ctl?.close();
  });

  it('opens the exec WebSocket with the subprotocol credentials only, selecting grove.console', async () => {
    for (const protocols of [
      [CONSOLE_PROTOCOL, connect],
      [connect, CONSOLE_PROTOCOL],
    ]) {
      const opened = await dial(
        `${base}/v1/vms/wsc-vm/exec?command=${encodeURIComponent('echo hi')}&wait=10`,
        protocols,
      );
      if (!('ws' in opened)) {
        throw new Error(`refused: ${opened.status}`);
      }
      expect(opened.protocol).toBe(CONSOLE_PROTOCOL);
      const output: string[] = [];
      opened.ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { type: string; data?: string };
        if (frame.type === 'stdout') {
          output.push(Buffer.from(frame.data ?? '', 'base64').toString());
        }
      });
      const closed = new Promise<number>((resolve) => opened.ws.once('close', resolve));
      opened.ws.resume();
      expect(await closed).toBe(1000);
      expect(output.join('')).toBe('hi\n');
    }
  });

  it('opens the port-forward WebSocket with them, keeping the half-close protocol when offered', async () => {
    for (const [protocols, selected] of [
      [[CONSOLE_PROTOCOL, connect], CONSOLE_PROTOCOL],
      [[connect, CONSOLE_PROTOCOL, HALF_CLOSE_PROTOCOL], HALF_CLOSE_PROTOCOL],
    ] as const) {
      const opened = await dial(`${base}/v1/vms/wsc-vm/port-forward?port=7&wait=10`, [...protocols]);
      if (!('ws' in opened)) {
        throw new Error(`refused: ${opened.status}`);
      }
      expect(opened.protocol).toBe(selected);
      const echoed = new Promise<string>((resolve) =>
        opened.ws.once('message', (data: Buffer) => resolve(data.toString())),
      );
      opened.ws.resume();
      opened.ws.send(Buffer.from('ping'));
      expect(await echoed).toBe('ping');
      opened.ws.close();
    }
    expect(worker.opened[worker.opened.length - 1]).toMatchObject({ kind: 'open', port: 7 });
  });

  it('refuses a wrong token with 401 and missing roles with 403, like HTTP Basic', async () => {
    const wrong = credentialProtocol('wsc-connect', 'not-the-token');
    expect(await dial(`${base}/v1/vms/wsc-vm/exec?command=true&wait=10`, [CONSOLE_PROTOCOL, wrong])).toEqual({
      status: 401,
    });
    expect(await dial(`${base}/v1/vms/wsc-vm/port-forward?port=7&wait=10`, [CONSOLE_PROTOCOL, wrong])).toEqual({
      status: 401,
    });
    expect(await dial(`${base}/v1/vms/wsc-vm/port-forward?port=7&wait=10`, [CONSOLE_PROTOCOL, reader])).toEqual({
      status: 403,
    });
    expect(await dial(`${base}/v1/vms/wsc-vm/exec?command=true&wait=10`, [CONSOLE_PROTOCOL])).toEqual({ status: 401 });
  });

  it('does not take the subprotocol as credentials on plain HTTP requests', async () => {
    const res = await ctl.app.inject({
      method: 'GET',
      url: '/v1/vms',
      headers: { 'sec-websocket-protocol': `${CONSOLE_PROTOCOL}, ${connect}` },
    });
    expect(res.statusCode).toBe(401);
  });

  // Last: it leaves this address throttled for a minute.
  it('counts failed subprotocol logins in the login throttle, as failed Basic logins', async () => {
    const wrong = credentialProtocol('wsc-connect', 'still-not-the-token');
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await dial(`${base}/v1/vms/wsc-vm/exec?command=true&wait=10`, [CONSOLE_PROTOCOL, wrong]);
      statuses.push('status' in res ? res.status : 101);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses[statuses.length - 1]).toBe(429);
    // Basic auth from the same address is throttled too: one count for both ways in.
    expect(
      (await ctl.request('GET', '/v1/session', { auth: `Basic ${Buffer.from('wsc-connect:x').toString('base64')}` }))
        .status,
    ).toBe(429);
  });
});
