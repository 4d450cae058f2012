import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GroveClient } from '@grove/client';
import type { ExecFrame, Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { WebSocket } from 'ws';
import { ADMIN, ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { TunnelSessionService } from '../tunnels/tunnel-session.service';
import { ExecLauncher, ExecStartError, type ExecSpec, type RemoteExec } from '../worker-sessions/remote-exec';
import { ExecService } from './exec.service';
import { FakeExec } from './test-support/fake-exec';

/** Collects the frames of an exec WebSocket and how it closed. */
function frames(ws: WebSocket) {
  const received: ExecFrame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', (data: Buffer) => received.push(JSON.parse(data.toString()) as ExecFrame));
  ws.resume();
  return {
    received,
    closed,
    send: (frame: object) => ws.send(JSON.stringify(frame)),
    output: () =>
      received
        .filter((f) => f.type === 'stdout' || f.type === 'stderr')
        .map((f) => Buffer.from(f.data ?? '', 'base64').toString())
        .join(''),
  };
}

/** POSTs an exec request and resolves with the status, the content type and the NDJSON lines. */
function post(
  base: string,
  name: string,
  body: unknown,
  auth = ADMIN,
  contentType = 'application/json',
  path = `/v1/vms/${name}/exec`,
): Promise<{ status: number; type: string; lines: any[] }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      { method: 'POST', headers: { authorization: auth, 'content-type': contentType } },
      (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const type = String(res.headers['content-type']);
          const lines = type.includes('ndjson')
            ? text
                .split('\n')
                .filter((l) => l !== '')
                .map((l) => JSON.parse(l))
            : [JSON.parse(text)];
          resolve({ status: res.statusCode ?? 0, type, lines });
        });
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('exec endpoints (in-process controller, fake worker exec)', () => {
  let ctl: TestController;
  let base: string;
  let client: GroveClient;
  /** The commands the fake launcher started, newest last. */
  const started: { spec: ExecSpec; exec: FakeExec }[] = [];
  /** What the fake launcher does with the next start (default: a FakeExec that waits for the test). */
  let onStart: ((spec: ExecSpec, exec: FakeExec) => void) | undefined;
  let failStart: string | undefined;

  const vm: Vm = { name: 'vm-1', uid: 'uid-1', worker: 'w-1', status: 'running' } as Vm;

  beforeAll(async () => {
    ctl = await TestController.start({ execSessionRetentionMs: 200 });
    await ctl.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(ctl.app.getHttpServer().address() as AddressInfo).port}`;
    client = new GroveClient({ url: base, serviceAccountName: 'bootstrap-admin', serviceAccountToken: ADMIN_TOKEN });
    const tunnels = ctl.app.get(TunnelSessionService);
    const realWait = tunnels.waitForRunningVm.bind(tunnels);
    jest
      .spyOn(tunnels, 'waitForRunningVm')
      .mockImplementation((name, wait) => (name === vm.name ? Promise.resolve(vm) : realWait(name, wait)));
    jest.spyOn(ctl.app.get(ExecLauncher), 'start').mockImplementation((_vm, spec) => {
      if (failStart) {
        return Promise.reject(new ExecStartError(failStart));
      }
      const exec = new FakeExec();
      started.push({ spec, exec });
      // Like frames from a worker, the test's output arrives in a later turn of the event loop.
      const script = onStart;
      setImmediate(() => script?.(spec, exec));
      return Promise.resolve(exec as unknown as RemoteExec);
    });
  });

  afterAll(async () => {
    await ctl?.close();
  });

  beforeEach(() => {
    onStart = undefined;
    failStart = undefined;
  });

  const last = () => started[started.length - 1];

  /** Opens an exec WebSocket with a raw query (for Grove's parameters the client library does not send). */
  const openRaw = (query: string): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/vms/${vm.name}/exec?${query}`, {
        headers: { authorization: ADMIN },
      });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`exec answered HTTP ${res.statusCode}`)));
    });

  describe('parameters, roles and errors before the start', () => {
    it.each([
      ['', '"command" parameter cannot be empty'],
      ['command=x&interactive=true&stdin=false', '"interactive" and "stdin" parameters cannot conflict'],
      ['command=x&interactive=maybe', '"interactive" parameter must be a boolean'],
      ['command=x&rows=24', '"rows" and "cols" must be provided together'],
      ['command=x&env[1X]=y', 'invalid environment variable name "1X"'],
      ['command=x&wait=x', '"wait" parameter must be an integer from 0 to 65535 (seconds)'],
      ['command=x&session=s&detachTimeout=0', '"detachTimeout" parameter must be an integer from 1 to 86400 (seconds)'],
      ['command=x&detachTimeout=5', '"detachTimeout" parameter needs a reconnectable session (a "session" parameter)'],
    ])('GET ?%s → 400 %s', async (query, message) => {
      const res = await ctl.request('GET', `/v1/vms/${vm.name}/exec?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ message });
    });

    it('answers 404 for an unknown VM, an unknown session, and 400 without a WebSocket handshake', async () => {
      expect((await ctl.request('GET', '/v1/vms/nope/exec?command=true')).status).toBe(404);
      const missing = await ctl.request('GET', `/v1/vms/${vm.name}/exec?session=never`);
      expect(missing).toMatchObject({ status: 404, body: { message: 'exec session "never" does not exist' } });
      const plain = await ctl.request('GET', `/v1/vms/${vm.name}/exec?command=true`);
      expect(plain.status).toBe(400);
      expect(plain.body.message).toMatch(/needs a WebSocket handshake/);
    });

    it('denies accounts without compute:write or compute:connect on both endpoints (403)', async () => {
      const reader = await ctl.createAccount('exec-reader', ['compute:read']);
      const denied = 'any of the following roles must be present: compute:write, compute:connect';
      const get = await ctl.request('GET', `/v1/vms/${vm.name}/exec?command=true`, { auth: reader });
      expect(get).toMatchObject({ status: 403, body: { message: denied } });
      const res = await ctl.request('POST', `/v1/vms/${vm.name}/exec`, { auth: reader, body: { command: 'true' } });
      expect(res).toMatchObject({ status: 403, body: { message: denied } });
      const connect = await ctl.createAccount('exec-connect', ['compute:connect']);
      onStart = (_spec, exec) => exec.finish({ exitCode: 0 });
      const ok = await post(base, vm.name, { command: 'true' }, connect);
      expect(ok).toMatchObject({ status: 200, lines: [{ event: 'started' }, { event: 'exit', code: 0 }] });
    });

    it.each([
      [{}, 'command'],
      [{ command: '' }, 'command should not be empty'],
      [{ command: 'x', args: 'y' }, 'args must be an array'],
      [{ command: 'x', args: [1] }, 'each value in args must be a string'],
      [{ command: 'x', stdinEncoding: 'hex' }, 'stdinEncoding must be one of the following values: utf8, base64'],
      [{ command: 'x', env: { '1X': 'y' } }, 'invalid environment variable name "1X" in env'],
      [{ command: 'x', env: { A: 1 } }, 'env values must be strings'],
      [{ command: 'x', timeout: -1 }, 'timeout must not be less than 0'],
      [{ command: 'x', wait: 1.5 }, 'wait must be an integer number'],
      [{ command: 'x', shell: true }, 'property shell should not exist'],
      [{ command: 'x', stdin: '!!', stdinEncoding: 'base64' }, 'stdin is not valid base64'],
    ])('POST %j → 400 naming the field', async (body, message) => {
      const res = await ctl.request('POST', `/v1/vms/${vm.name}/exec`, { body });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(message);
    });

    it('answers 503 when the worker cannot start the command, on both endpoints', async () => {
      failStart = 'neither the guest agent nor SSH answered';
      const res = await ctl.request('POST', `/v1/vms/${vm.name}/exec`, { body: { command: 'true' } });
      expect(res).toMatchObject({
        status: 503,
        body: { message: `cannot start the command in VM "${vm.name}": neither the guest agent nor SSH answered` },
      });
      await expect(client.vms.exec(vm.name, { command: 'true' })).rejects.toMatchObject({ status: 503 });
    });
  });

  describe('WebSocket sessions', () => {
    it('runs a legacy command with /bin/sh -c and closes with 1000 "Command finished"', async () => {
      onStart = (_spec, exec) => {
        exec.out('stdout', 'Hello, World!\n');
        exec.finish({ exitCode: 0 });
      };
      const ws = frames(
        await client.vms.exec(vm.name, { command: 'echo "Hello, World!"', env: { A: 'b' }, workdir: '/tmp' }),
      );
      expect(await ws.closed).toEqual({ code: 1000, reason: 'Command finished' });
      expect(ws.output()).toBe('Hello, World!\n');
      expect(ws.received.at(-1)).toEqual({ type: 'exit', exit: { code: 0 } });
      expect(last().spec).toEqual({
        argv: ['/bin/sh', '-c', 'echo "Hello, World!"'],
        interactive: false,
        tty: false,
        env: { A: 'b' },
        workdir: '/tmp',
      });
    });

    it('kills a legacy command when the client leaves', async () => {
      const ws = await client.vms.exec(vm.name, { command: 'sleep 100', interactive: true });
      const exec = last().exec;
      ws.terminate();
      await waitFor('the kill', () => exec.killedWith !== undefined);
      expect(exec.killedWith).toBe('the client closed the exec WebSocket');
    });

    it('answers a bad frame with an error frame and a 1008 close', async () => {
      const ws = frames(await client.vms.exec(vm.name, { command: 'cat', interactive: true }));
      ws.send({ type: 'history', watermark: 0 });
      const { code, reason } = await ws.closed;
      expect(code).toBe(1008);
      expect(reason).toMatch(/"history" frames need a reconnectable session/);
      expect(ws.received).toEqual([{ type: 'error', error: expect.stringMatching(/reconnectable session/) }]);
    });

    it('keeps a reconnectable session across sockets: 409, history, close', async () => {
      const id = 'rs-1';
      const first = frames(await client.vms.exec(vm.name, { command: 'cat', session: id, interactive: true }));
      const exec = last().exec;
      exec.out('stdout', 'first\n');
      await waitFor('first frame', () => first.received.length === 1);
      expect(first.received[0]).toMatchObject({ type: 'stdout', watermark: 1 });
      await expect(client.vms.exec(vm.name, { command: 'cat', session: id })).rejects.toMatchObject({
        status: 409,
        message: `exec session "${id}" is already running with different options`,
      });
      first.send({ type: 'detach' });
      expect(await first.closed).toEqual({ code: 1000, reason: 'detached' });
      exec.out('stdout', 'second\n');
      const second = frames(await client.vms.exec(vm.name, { session: id }));
      second.send({ type: 'history', watermark: 1 });
      await waitFor('no_more_history', () => second.received.some((f) => f.type === 'no_more_history'));
      expect(second.output()).toBe('second\n');
      expect(second.received.at(-1)).toEqual({ type: 'no_more_history', watermark: 2 });
      second.send({ type: 'close' });
      expect(await second.closed).toEqual({ code: 1000, reason: 'exec session is closed' });
      expect(exec.killedWith).toBe('the exec session was closed');
      await expect(client.vms.exec(vm.name, { session: id })).rejects.toMatchObject({ status: 404 });
    });

    it('shares the creation between concurrent creators and forgets the session after the retention time', async () => {
      const id = 'rs-2';
      const count = started.length;
      const sockets = await Promise.all(
        Array.from({ length: 5 }, () => client.vms.exec(vm.name, { command: 'echo hi', session: id })),
      );
      expect(started.length).toBe(count + 1);
      const views = sockets.map(frames);
      last().exec.out('stdout', 'hi\n');
      last().exec.finish({ exitCode: 0 });
      for (const view of views) {
        await waitFor('exit', () => view.received.some((f) => f.type === 'exit'));
      }
      // Retention is 200 ms here: the sockets are closed, and the session is gone.
      for (const view of views) {
        expect(await view.closed).toEqual({ code: 1000, reason: 'exec session is closed' });
      }
      await expect(client.vms.exec(vm.name, { session: id })).rejects.toMatchObject({ status: 404 });
    });
  });

  describe('detachTimeout (Grove extension)', () => {
    const create = (id: string) => openRaw(`command=cat&interactive=true&session=${id}&detachTimeout=1`);

    it('kills the command and forgets the session once no socket was attached for the timeout', async () => {
      const raw = await create('dt-1');
      const ws = frames(raw);
      const exec = last().exec;
      exec.out('stdout', 'before\n');
      await waitFor('output', () => ws.output() === 'before\n');
      raw.terminate(); // the tab vanished: no detach, no close frame
      await ws.closed;
      await waitFor('the kill', () => exec.killedWith !== undefined);
      expect(exec.killedWith).toBe('the exec session was closed');
      await expect(client.vms.exec(vm.name, { session: 'dt-1' })).rejects.toMatchObject({
        status: 404,
        message: 'exec session "dt-1" does not exist',
      });
    });

    it('keeps the command when a socket attaches again within the timeout', async () => {
      const first = frames(await create('dt-2'));
      const exec = last().exec;
      first.send({ type: 'detach' });
      await first.closed;
      const second = frames(await client.vms.exec(vm.name, { session: 'dt-2' }));
      // A witness session detached after the reattach: once its timeout has killed it, dt-2's would have fired too.
      const witness = frames(await create('dt-witness'));
      const witnessExec = last().exec;
      witness.send({ type: 'detach' });
      await waitFor('the witness kill', () => witnessExec.killedWith !== undefined);
      expect(exec.killedWith).toBeUndefined();
      exec.out('stdout', 'still here\n');
      await waitFor('output', () => second.output() === 'still here\n');
      second.send({ type: 'close' });
      expect(await second.closed).toEqual({ code: 1000, reason: 'exec session is closed' });
    });
  });

  describe('POST with an NDJSON answer', () => {
    it('streams started, output (text and base64) and exit', async () => {
      onStart = (_spec, exec) => {
        exec.out('stdout', 'hi\n');
        exec.out('stderr', Buffer.from([0xff, 0xfe]));
        exec.finish({ exitCode: 3 });
      };
      const res = await post(base, vm.name, {
        command: 'sh',
        args: ['-c', 'echo hi'],
        stdin: 'aGk=',
        stdinEncoding: 'base64',
      });
      expect(res.status).toBe(200);
      expect(res.type).toBe('application/x-ndjson');
      expect(res.lines).toEqual([
        { event: 'started', via: 'agent' },
        { event: 'stdout', data: 'hi\n' },
        { event: 'stderr', data: '//4=', encoding: 'base64' },
        { event: 'exit', code: 3 },
      ]);
      expect(last().spec).toMatchObject({ argv: ['sh', '-c', 'echo hi'], interactive: true, tty: false });
      expect(Buffer.concat(last().exec.stdin).toString()).toBe('hi');
      expect(last().exec.stdinEnded).toBe(true);
    });

    it('reads a body labelled as a form (curl -d without -H) as JSON, on this route only', async () => {
      onStart = (_spec, exec) => exec.finish({ exitCode: 0 });
      const form = 'application/x-www-form-urlencoded';
      const res = await post(base, vm.name, { command: 'true' }, ADMIN, form);
      expect(res).toMatchObject({ status: 200, lines: [{ event: 'started' }, { event: 'exit', code: 0 }] });
      // Elsewhere a form stays a form (here: one unknown field named like the whole body).
      const other = await post(base, vm.name, { name: 'x', image: 'y' }, ADMIN, form, '/v1/vms');
      expect(other.status).toBe(400);
      expect(other.lines[0].message).toMatch(/should not exist/);
    });

    it('kills the command when the timeout runs out', async () => {
      const res = await post(base, vm.name, { command: 'sleep', args: ['100'], timeout: 0.2 });
      expect(res.lines.at(-1)).toEqual({
        event: 'error',
        message: 'the command did not finish within its timeout of 0.2 s and was killed',
      });
    });

    it('kills the command when the client goes away, and through the client library', async () => {
      const abort = new AbortController();
      const events = client.vms.execStream(vm.name, { command: 'sleep', args: ['100'] }, { signal: abort.signal });
      const first = await events.next();
      expect(first.value).toEqual({ event: 'started', via: 'agent' });
      const exec = last().exec;
      abort.abort();
      await events.return(undefined).catch(() => undefined);
      await waitFor('the kill', () => exec.killedWith !== undefined);
      expect(exec.killedWith).toBe('the client closed the exec request');
      await waitFor('no runs', () => ctl.app.get(ExecService).activeSessions.runs === 0);
    });
  });
});

describe('exec at controller shutdown', () => {
  it('kills every command and closes every exec socket and stream', async () => {
    const ctl = await TestController.start();
    let closing: Promise<void> | undefined;
    try {
      await ctl.app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(ctl.app.getHttpServer().address() as AddressInfo).port}`;
      const client = new GroveClient({
        url: base,
        serviceAccountName: 'bootstrap-admin',
        serviceAccountToken: ADMIN_TOKEN,
      });
      const vm = { name: 'vm-s', uid: 'uid-s', worker: 'w', status: 'running' } as Vm;
      jest.spyOn(ctl.app.get(TunnelSessionService), 'waitForRunningVm').mockResolvedValue(vm);
      const execs: FakeExec[] = [];
      jest.spyOn(ctl.app.get(ExecLauncher), 'start').mockImplementation(() => {
        const exec = new FakeExec();
        execs.push(exec);
        return Promise.resolve(exec as unknown as RemoteExec);
      });
      const legacy = frames(await client.vms.exec(vm.name, { command: 'sleep 100' }));
      const kept = frames(await client.vms.exec(vm.name, { command: 'sleep 100', session: 'k' }));
      const stream = client.vms.execStream(vm.name, { command: 'sleep', args: ['100'] });
      await stream.next();
      const rest = (async () => {
        const events = [];
        for await (const event of stream) {
          events.push(event);
        }
        return events;
      })();
      closing = ctl.close();
      const shutdown = { code: 1001, reason: 'the controller is shutting down' };
      expect(await legacy.closed).toEqual(shutdown);
      expect(await kept.closed).toEqual(shutdown);
      expect(await rest).toEqual([{ event: 'error', message: 'the controller is shutting down' }]);
      expect(execs.map((e) => e.killedWith)).toEqual(Array(3).fill('the controller is shutting down'));
      await closing;
    } finally {
      await (closing ?? ctl.close()).catch(() => undefined);
    }
  });
});
