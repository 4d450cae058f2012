import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { waitFor } from '@grove/testing';
import { FakeWorker, type OpenFrame } from './test-support/fake-worker';
import { type JsonSchema, validateJson } from './test-support/json-schema';
import { ERROR_PROPERTIES } from './test-support/orchard-schemas';
import { runningVm } from './test-support/running-vm';
import { ORCHARD_USER_AGENT, orchardDial, OrchardWebSocket } from './test-support/orchard-websocket-client';
import { ADMIN, basic, TestController } from './test-support/test-controller';
import { WorkerGrpcServer } from './worker-sessions/worker-grpc.server';

/**
 * Each WebSocket operation of Orchard's API (orchard.md §1.2, §1.3, §1.5; orchard-2026.md §1.2.3, §1.2.4) and the
 * refusals checked for it: HTTP answers before the upgrade, each a `{message}` body. The test fails unless every one
 * was exercised.
 */
const VM_PORT = 'GET /v1/vms/{name}/port-forward?port&wait';
const GUEST_AGENT = 'GET /v1/vms/{name}/port-forward?target=tart-guest-agent&wait';
const HOST_PROCESS = 'GET /v1/vms/{name}/port-forward?hostProcess&wait';
const WORKER_PORT = 'GET /v1/workers/{name}/port-forward?port';
const EXEC = 'GET /v1/vms/{name}/exec?command&wait';
const EXEC_SESSION = 'GET /v1/vms/{name}/exec?session&wait';
const OPERATIONS: Record<string, number[]> = {
  [VM_PORT]: [400, 401, 403, 404, 408, 417],
  [GUEST_AGENT]: [400, 403, 503],
  [HOST_PROCESS]: [400, 403, 404],
  [WORKER_PORT]: [400, 401, 403, 404],
  [EXEC]: [400, 401, 403, 404, 408, 503],
  [EXEC_SESSION]: [404, 409],
};

/**
 * Grove's deviations that show in these operations, documented in docs/api-compatibility.md: missing roles are 403
 * (Orchard: 401), and every refusal has a `{message}` body (Orchard's bad port is an empty 400; its unreachable worker
 * an empty 500 after `wait`, Grove's a 503 that says so). Orchard's client reads only the status of a refused handshake.
 */
const MISSING_ROLES = 403;

/** The VM the sessions reach: a name with the punctuation Orchard allows, which Go's url.PathEscape leaves as it is. */
const VM = 'ws:vm_1.a';

const ERROR: JsonSchema = { type: 'object', properties: ERROR_PROPERTIES, required: ['message'] };

/** Port 13 (daytime) says one line and closes the connection; every other port echoes what it gets. */
function fakeTarget(open: OpenFrame): Duplex {
  if (open.port !== 13) {
    return new PassThrough();
  }
  const daytime = new Duplex({ read: () => undefined, write: (_chunk, _encoding, done) => done() });
  daytime.push('Sat Dec  5 17:03:00 2026\n');
  daytime.push(null);
  return daytime;
}

describe("Orchard's WebSocket operations (handshakes and messages as Orchard's Go client makes them)", () => {
  let ctl: TestController;
  let port: number;
  let worker: FakeWorker;
  let oldWorker: FakeWorker;
  const handshakes: IncomingHttpHeaders[] = [];
  const served = new Set<string>();
  const refusals = new Map<string, Set<number>>();
  const sockets: OrchardWebSocket[] = [];
  let workdir: string;

  beforeAll(async () => {
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    port = (ctl.app.getHttpServer().address() as AddressInfo).port;
    ctl.app.getHttpServer().prependListener('upgrade', (req: { headers: IncomingHttpHeaders }) => {
      handshakes.push(req.headers);
    });
    const grpcTarget = `127.0.0.1:${ctl.app.get(WorkerGrpcServer).port}`;
    const capabilities = ['host-processes', 'tunnel-guest-agent'];
    for (const [name, caps] of [
      ['ws-mac', capabilities],
      ['ws-old', []],
    ] as const) {
      const body = { name, machine_id: name, resources: { 'org.cirruslabs.tart-vms': 10 }, capabilities: caps };
      expect((await ctl.request('POST', '/v1/workers', { body })).status).toBe(200);
    }
    worker = await FakeWorker.connect(grpcTarget, 'ws-mac', ADMIN, capabilities, {
      target: fakeTarget,
      execOnHost: true,
    });
    oldWorker = await FakeWorker.connect(grpcTarget, 'ws-old', ADMIN, []);
    await runningVm(ctl, VM, 'ws-mac', { hostProcesses: [{ name: 'echo', program: '/usr/local/bin/echo-server' }] });
    await runningVm(ctl, 'ws-vm-old', 'ws-old');
    await runningVm(ctl, 'ws-failed', 'ws-mac');
    const failed = { status: 'failed', status_message: 'gone' };
    expect((await ctl.request('PUT', '/v1/vms/ws-failed/state', { body: failed })).status).toBe(200);
    // Pinned to a worker that does not exist: pending for good.
    await ctl.request('POST', '/v1/vms', { body: { name: 'ws-pending', image: 'i', labels: { pin: 'nowhere' } } });
    workdir = await realpath(await mkdtemp(join(tmpdir(), 'grove-orchard-exec-')));
  });

  afterAll(async () => {
    for (const socket of sockets) {
      socket.ws.terminate();
    }
    worker?.close();
    oldWorker?.close();
    await ctl?.close();
    await rm(workdir, { recursive: true, force: true });
  });

  /** A handshake that must succeed, its 101 answer passing coder/websocket's checks. */
  async function open(path: string, params: Record<string, string>, auth = ADMIN): Promise<OrchardWebSocket> {
    const res = await orchardDial(port, path, params, auth);
    if (!(res instanceof OrchardWebSocket)) {
      throw new Error(`${path} was refused: ${res.status} ${JSON.stringify(res.body)}`);
    }
    sockets.push(res);
    expect(res.response.statusCode).toBe(101);
    expect(res.response.headers['sec-websocket-protocol']).toBeUndefined();
    expect(res.response.headers['sec-websocket-extensions']).toBeUndefined();
    return res;
  }

  /** A handshake that must be refused, with a `{message}` body; recorded against `operation`. `auth` null: none. */
  async function refuse(
    operation: string,
    path: string,
    params: Record<string, string>,
    auth: string | null = ADMIN,
  ): Promise<{ status: number; body: any }> {
    const res = await orchardDial(port, path, params, auth ?? undefined);
    if (res instanceof OrchardWebSocket) {
      res.ws.terminate();
      throw new Error(`${operation} was accepted`);
    }
    expect(validateJson(ERROR, res.body)).toEqual([]);
    refusals.set(operation, (refusals.get(operation) ?? new Set()).add(res.status));
    return res;
  }

  /** Writes `messages` as NetConn Writes and waits until the same bytes came back. */
  async function roundTrip(conn: OrchardWebSocket, messages: Buffer[]): Promise<void> {
    for (const message of messages) {
      conn.write(message);
    }
    const all = Buffer.concat(messages);
    await waitFor('the echo', () => conn.received.length >= all.length);
    expect(conn.received.equals(all)).toBe(true);
    expect(conn.textMessages).toBe(0);
  }

  const vmUid = async (name: string) => (await ctl.request('GET', `/v1/vms/${name}`)).body.uid as string;

  it('port-forward to a VM port: bytes both ways as binary messages, a clean end from either side', async () => {
    const conn = await open(`vms/${VM}/port-forward`, { port: '22', wait: '5' });
    // The handshake exactly as coder/websocket sends it, nothing added by this test's client.
    const handshake = handshakes[handshakes.length - 1];
    expect(Object.keys(handshake).sort().join(' ')).toBe(
      'accept-encoding authorization connection host sec-websocket-key sec-websocket-version upgrade user-agent',
    );
    expect(handshake['user-agent']).toBe(ORCHARD_USER_AGENT);
    // io.Copy through a NetConn writes 32 KiB at a time.
    await roundTrip(conn, [Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), ...[1, 2, 3, 4].map(() => randomBytes(32 * 1024))]);
    expect(worker.opened[worker.opened.length - 1]).toEqual({
      kind: 'open',
      session: expect.any(String),
      vmUid: await vmUid(VM),
      port: 22,
    });
    conn.close();
    expect((await conn.closed).code).toBe(1000);

    // The target closes: NetConn reads the data, then EOF (a close with 1000 or 1001, anything else is an error).
    const daytime = await open(`vms/${VM}/port-forward`, { port: '13', wait: '5' });
    const closed = await daytime.closed;
    expect(daytime.received.toString()).toBe('Sat Dec  5 17:03:00 2026\n');
    expect([1000, 1001]).toContain(closed.code);
    expect(daytime.textMessages).toBe(0);
    served.add(VM_PORT);
  });

  it('port-forward to a VM port: refusals', async () => {
    const path = `vms/${VM}/port-forward`;
    expect(await refuse(VM_PORT, path, { port: '0', wait: '5' })).toMatchObject({
      status: 400,
      body: { message: 'invalid input: port must be an integer from 1 to 65535' },
    });
    expect(await refuse(VM_PORT, path, { port: '22', wait: '5' }, basic('bootstrap-admin', 'wrong'))).toEqual({
      status: 401,
      body: { message: 'invalid service account name or token' },
    });
    expect((await refuse(VM_PORT, path, { port: '22', wait: '5' }, null)).status).toBe(401);
    const reader = await ctl.createAccount('ws-reader', ['compute:read']);
    expect(await refuse(VM_PORT, path, { port: '22', wait: '5' }, reader)).toEqual({
      status: MISSING_ROLES,
      body: { message: 'any of the following roles must be present: compute:write, compute:connect' },
    });
    expect(await refuse(VM_PORT, 'vms/ws-absent/port-forward', { port: '22', wait: '5' })).toEqual({
      status: 404,
      body: { message: 'VM "ws-absent" not found' },
    });
    expect(await refuse(VM_PORT, 'vms/ws-pending/port-forward', { port: '22', wait: '0' })).toEqual({
      status: 408,
      body: { message: 'VM "ws-pending" is not running yet: it is pending and not assigned to a worker' },
    });
    expect(await refuse(VM_PORT, 'vms/ws-failed/port-forward', { port: '22', wait: '5' })).toEqual({
      status: 417,
      body: { message: "VM is in a terminal state 'failed'" },
    });
  });

  it('port-forward to the Tart guest agent (?target=tart-guest-agent), with its own role', async () => {
    const agentOnly = await ctl.createAccount('ws-agent', ['compute:connect:tart-guest-agent']);
    const conn = await open(`vms/${VM}/port-forward`, { target: 'tart-guest-agent', wait: '5' }, agentOnly);
    // The agent speaks gRPC: an HTTP/2 connection preface, echoed by the fake worker's target.
    await roundTrip(conn, [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')]);
    expect(worker.opened[worker.opened.length - 1]).toMatchObject({ port: 0, target: 'tart-guest-agent' });
    conn.close();
    await conn.closed;
    served.add(GUEST_AGENT);

    const path = `vms/${VM}/port-forward`;
    expect((await refuse(GUEST_AGENT, path, { target: 'tart-guest-agent', port: '22', wait: '5' })).status).toBe(400);
    expect(
      await refuse(
        GUEST_AGENT,
        path,
        { target: 'tart-guest-agent', wait: '5' },
        await ctl.createAccount('ws-c', ['compute:connect']),
      ),
    ).toEqual({
      status: MISSING_ROLES,
      body: { message: 'any of the following roles must be present: compute:write, compute:connect:tart-guest-agent' },
    });
    expect(await refuse(GUEST_AGENT, 'vms/ws-vm-old/port-forward', { target: 'tart-guest-agent', wait: '5' })).toEqual({
      status: 503,
      body: {
        message:
          'worker "ws-old" of VM "ws-vm-old" cannot forward to the Tart guest agent: it lacks the capability ' +
          'tunnel-guest-agent (upgrade the worker)',
      },
    });
  });

  it('port-forward to a host process (?hostProcess=NAME)', async () => {
    const connect = await ctl.createAccount('ws-hp', ['compute:connect', 'host-process:connect']);
    const conn = await open(`vms/${VM}/port-forward`, { hostProcess: 'echo', wait: '5' }, connect);
    await roundTrip(conn, [Buffer.from('hello, host process')]);
    expect(worker.opened[worker.opened.length - 1]).toMatchObject({
      port: 0,
      target: 'host-process',
      hostProcess: 'echo',
    });
    conn.close();
    await conn.closed;
    served.add(HOST_PROCESS);

    const path = `vms/${VM}/port-forward`;
    expect((await refuse(HOST_PROCESS, path, { hostProcess: 'echo', port: '22', wait: '5' })).body).toMatchObject({
      message: 'invalid input: hostProcess cannot be combined with port',
    });
    expect(
      (
        await refuse(
          HOST_PROCESS,
          path,
          { hostProcess: 'echo', wait: '5' },
          await ctl.createAccount('ws-c2', ['compute:connect']),
        )
      ).status,
    ).toBe(MISSING_ROLES);
    expect(await refuse(HOST_PROCESS, path, { hostProcess: 'nope', wait: '5' })).toEqual({
      status: 404,
      body: { message: `host process "nope" is not declared on VM "${VM}"` },
    });
  });

  it('port-forward to a worker port (Workers().PortForward sends no wait)', async () => {
    const conn = await open('workers/ws-mac/port-forward', { port: '5900' });
    await roundTrip(conn, [Buffer.from('RFB 003.008\n')]);
    expect(worker.opened[worker.opened.length - 1]).toEqual({
      kind: 'open',
      session: expect.any(String),
      vmUid: '',
      port: 5900,
    });
    conn.close();
    await conn.closed;
    served.add(WORKER_PORT);

    const path = 'workers/ws-mac/port-forward';
    expect((await refuse(WORKER_PORT, path, { port: '0' })).status).toBe(400);
    expect((await refuse(WORKER_PORT, path, { port: '5900' }, basic('bootstrap-admin', 'wrong'))).status).toBe(401);
    expect(
      await refuse(WORKER_PORT, path, { port: '5900' }, await ctl.createAccount('ws-w', ['compute:write'])),
    ).toEqual({
      status: MISSING_ROLES,
      body: { message: 'all of the following roles must be present: admin:write' },
    });
    expect(await refuse(WORKER_PORT, 'workers/ws-absent/port-forward', { port: '5900' })).toEqual({
      status: 404,
      body: { message: 'worker "ws-absent" not found' },
    });
  });

  it('exec: stdout and the exit code come back as JSON text frames, then 1000 "Command finished"', async () => {
    const command = `sh -c 'printf "%s|%s|%s" "$GREETING" "$QUOTE" "$PWD"; exit 3'`;
    // ExecSession's query: command, env[NAME] per variable, workdir, wait.
    const conn = await open(`vms/${VM}/exec`, {
      command,
      'env[GREETING]': 'Hello, World!',
      'env[QUOTE]': "O'Reilly",
      workdir,
      wait: '30',
    });
    expect(await conn.closed).toEqual({ code: 1000, reason: 'Command finished' });
    expect(conn.binaryMessages).toBe(0);
    expect(conn.frames.map((f) => f.type).filter((t) => t !== 'stdout')).toEqual(['exit']);
    expect(conn.output()).toBe(`Hello, World!|O'Reilly|${workdir}`);
    expect(conn.exit).toEqual({ type: 'exit', exit: { code: 3 } });
    expect(worker.execStarts[worker.execStarts.length - 1]).toMatchObject({
      argv: ['/bin/sh', '-c', command],
      env: { GREETING: 'Hello, World!', QUOTE: "O'Reilly" },
      workdir,
      interactive: false,
      tty: false,
    });

    // Exec(ctx, vm, "/bin/cat", true, 30): stdin frames, then an empty one for the end of the input.
    const cat = await open(`vms/${VM}/exec`, { command: '/bin/cat', interactive: 'true', wait: '30' });
    cat.send('stdin', { data: Buffer.from('Hello, World!\n') });
    cat.send('stdin', { data: Buffer.alloc(0) });
    expect(await cat.closed).toEqual({ code: 1000, reason: 'Command finished' });
    expect(cat.output()).toBe('Hello, World!\n');
    expect(cat.exit).toEqual({ type: 'exit', exit: { code: 0 } });
    served.add(EXEC);
  });

  it('exec: refusals', async () => {
    const path = `vms/${VM}/exec`;
    expect(await refuse(EXEC, path, { wait: '30' })).toEqual({
      status: 400,
      body: { message: '"command" parameter cannot be empty' },
    });
    expect((await refuse(EXEC, path, { command: 'true', wait: '30' }, basic('ws-nobody', 'x'))).status).toBe(401);
    expect(
      await refuse(EXEC, path, { command: 'true', wait: '30' }, await ctl.createAccount('ws-r2', ['compute:read'])),
    ).toEqual({
      status: MISSING_ROLES,
      body: { message: 'any of the following roles must be present: compute:write, compute:connect' },
    });
    expect((await refuse(EXEC, 'vms/ws-absent/exec', { command: 'true', wait: '30' })).status).toBe(404);
    expect((await refuse(EXEC, 'vms/ws-pending/exec', { command: 'true', wait: '0' })).status).toBe(408);
    expect(await refuse(EXEC, 'vms/ws-vm-old/exec', { command: 'true', wait: '5' })).toEqual({
      status: 503,
      body: { message: 'cannot start the command in VM "ws-vm-old": this fake worker runs no commands' },
    });
  });

  it('exec: a reconnectable session (?session=) keeps its output for history after a detach', async () => {
    const session = randomUUID();
    const first = await open(`vms/${VM}/exec`, { command: "sh -c 'echo replay-me'", session, wait: '30' });
    await waitFor('the exit frame', () => first.exit);
    expect(first.frames).toEqual([
      { type: 'stdout', data: Buffer.from('replay-me\n').toString('base64'), watermark: 1 },
      { type: 'exit', exit: { code: 0 }, watermark: 2 },
    ]);
    first.send('detach');
    await first.closed;

    const again = await open(`vms/${VM}/exec`, { session, wait: '30' });
    again.send('history');
    await waitFor('the end of the history', () => again.frames.find((f) => f.type === 'no_more_history'));
    expect(again.frames).toEqual([...first.frames, { type: 'no_more_history', watermark: 2 }]);
    served.add(EXEC_SESSION);

    expect(await refuse(EXEC_SESSION, `vms/${VM}/exec`, { command: 'echo other', session, wait: '30' })).toEqual({
      status: 409,
      body: { message: `exec session "${session}" is already running with different options` },
    });
    const unknown = randomUUID();
    expect(await refuse(EXEC_SESSION, `vms/${VM}/exec`, { session: unknown, wait: '30' })).toEqual({
      status: 404,
      body: { message: `exec session "${unknown}" does not exist` },
    });
    again.send('close');
    await again.closed;
  });

  it('covers every WebSocket operation and its documented refusals', () => {
    expect([...served].sort()).toEqual(Object.keys(OPERATIONS).sort());
    for (const [operation, statuses] of Object.entries(OPERATIONS)) {
      expect({ operation, refusals: [...(refusals.get(operation) ?? [])].sort((a, b) => a - b) }).toEqual({
        operation,
        refusals: statuses,
      });
    }
  });
});
