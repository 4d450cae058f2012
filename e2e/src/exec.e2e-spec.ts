import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import type { ExecEvent, ExecFrame, Vm } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  type ControllerProcess,
  startController,
} from './test-support/controller-process';
import { ExecSocket } from './test-support/exec-socket';
import { startSyntheticWorker } from './test-support/synthetic-worker';
import { untilRunning } from './test-support/running-vm';

/** Runs `curl` and resolves with its stdout and exit code. */
function curl(args: string[]): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 30_000 }, (err, stdout) => {
      resolve({ stdout, code: err ? Number((err as { code?: unknown }).code ?? 1) : 0 });
    });
  });
}

function ndjson(text: string): ExecEvent[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ExecEvent);
}

/** Frames ordered by watermark, each watermark once (live and replayed copies merged). */
function byWatermark(frames: ExecFrame[]): ExecFrame[] {
  const seen = new Map<number, ExecFrame>();
  for (const frame of frames) {
    if (frame.watermark !== undefined && !seen.has(frame.watermark)) {
      seen.set(frame.watermark, frame);
    }
  }
  return [...seen.entries()].sort(([a], [b]) => a - b).map(([, frame]) => frame);
}

describe('exec through a synthetic worker (Orchard exec_test.go, orchard.md §8.2)', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let home: string;
  let worker: RunningProcess;
  let vm: Vm;
  const workerName = 'e2e-exec-1';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-exec-'));
    controller = await startController();
    client = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: workerName,
      dataDir: join(home, workerName),
    });
    await client.vms.create({ name: 'exec-vm', image: 'any', os: 'linux' });
    vm = await untilRunning(client, 'exec-vm');
  });

  afterAll(async () => {
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const open = async (params: Parameters<GroveClient['vms']['exec']>[1]) =>
    new ExecSocket(await client.vms.exec(vm.name, params));

  describe('legacy sessions', () => {
    it('WithoutStdin: stdout, exit 0, close 1000 "Command finished"', async () => {
      const s = await open({ command: 'echo "Hello, World!"' });
      expect(await s.closed).toEqual({ code: 1000, reason: 'Command finished' });
      expect(s.output('stdout')).toBe('Hello, World!\n');
      expect(s.frames.at(-1)).toEqual({ type: 'exit', exit: { code: 0 } });
      expect(s.frames.some((f) => f.watermark !== undefined)).toBe(false);
    });

    it('WithStdin: /bin/cat echoes stdin until the empty stdin frame', async () => {
      const s = await open({ command: '/bin/cat', interactive: true });
      s.stdin('Hello, World!\n');
      await s.outputContains('Hello, World!\n');
      s.stdin('');
      expect(await s.closed).toEqual({ code: 1000, reason: 'Command finished' });
      expect(s.output('stdout')).toBe('Hello, World!\n');
      expect(s.frames.at(-1)).toEqual({ type: 'exit', exit: { code: 0 } });
    });

    it("WithOptions: env (O'Reilly) and workdir", async () => {
      const s = await open({
        command: 'echo "Hello, World!|$NAME|$(pwd)"',
        env: { NAME: "O'Reilly", GREETING: 'hello' },
        workdir: '/tmp',
      });
      await s.closed;
      expect(s.output('stdout')).toBe("Hello, World!|O'Reilly|/tmp\n");
    });

    it('Script: stdout and stderr apart, a stdin line, exit 7, close 1000', async () => {
      const s = await open({
        command: 'echo out; echo err >&2; read line; echo "got $line"; exit 7',
        interactive: true,
      });
      await s.outputContains('out\n');
      s.stdin('hello\n');
      expect(await s.closed).toEqual({ code: 1000, reason: 'Command finished' });
      expect(s.output('stdout')).toBe('out\ngot hello\n');
      expect(s.output('stderr')).toBe('err\n');
      expect(s.frames.at(-1)).toEqual({ type: 'exit', exit: { code: 7 } });
    });

    it('TTYResize: stty size follows the resize frame', async () => {
      const s = await open({ command: 'stty size; read line; stty size', tty: true, rows: 24, cols: 80 });
      await s.outputContains('24 80');
      s.send({ type: 'resize', terminal: { rows: 40, cols: 120 } });
      s.stdin('\n');
      expect(await s.closed).toEqual({ code: 1000, reason: 'Command finished' });
      expect(s.output()).toMatch(/24 80[\s\S]*40 120/);
    });

    it('runs 32 concurrent execs', async () => {
      const results = await Promise.all(
        Array.from({ length: 32 }, async (_, i) => {
          const s = await open({ command: `echo exec-${i}` });
          const closed = await s.closed;
          return { i, closed, out: s.output('stdout'), last: s.frames.at(-1) };
        }),
      );
      for (const r of results) {
        expect(r).toEqual({
          i: r.i,
          closed: { code: 1000, reason: 'Command finished' },
          out: `exec-${r.i}\n`,
          last: { type: 'exit', exit: { code: 0 } },
        });
      }
    });

    it('answers bad frames with an error frame and a 1008 close, and bad parameters with 400', async () => {
      const s = await open({ command: 'cat', interactive: true });
      s.ws.send('not json');
      expect(await s.closed).toEqual({ code: 1008, reason: expect.stringContaining('not valid JSON') });
      expect(s.frames).toEqual([{ type: 'error', error: expect.stringContaining('not valid JSON') }]);

      // Not interactive: its stdin is empty, so use a command that outlives the resize frame.
      const r = await open({ command: 'sleep 30' });
      r.send({ type: 'resize', terminal: { rows: 1, cols: 1 } });
      expect((await r.closed).code).toBe(1008);
      expect(r.frames[0]?.error).toMatch(/need a terminal/);

      await expect(client.vms.exec(vm.name, { command: 'true', rows: 24 })).rejects.toMatchObject({
        status: 400,
        message: '"rows" and "cols" must be provided together',
      });
      await expect(client.vms.exec(vm.name, { command: 'true', env: { '1X': 'y' } })).rejects.toMatchObject({
        status: 400,
        message: 'invalid environment variable name "1X"',
      });
      await expect(client.vms.exec('no-such-vm', { command: 'true' })).rejects.toMatchObject({ status: 404 });
    });
  });

  describe('reconnectable sessions', () => {
    /** Waits for the audit record of the session's command: it is written when the command has ended. */
    const commandEnded = (id: string) =>
      waitFor(
        `the end of exec session ${id}`,
        async () =>
          (await client.vms.allEvents(vm.name)).some(
            (e) => e.kind === 'audit' && e.payload.includes(`"execSession":${JSON.stringify(id)}`),
          ),
        15_000,
        50,
      );

    it('SessionReconnectHistory: watermarks from 1, detach, reattach, history > 1', async () => {
      const id = 'history-1';
      const first = await open({ command: 'echo first; read x; echo second', session: id, interactive: true });
      expect(await first.frame((f) => f.type === 'stdout', 'the first output')).toMatchObject({ watermark: 1 });
      first.stdin('go\n');
      first.send({ type: 'detach' });
      expect(await first.closed).toEqual({ code: 1000, reason: 'detached' });
      await commandEnded(id);

      const again = await open({ session: id });
      again.send({ type: 'history', watermark: 1 });
      const done = await again.frame((f) => f.type === 'no_more_history', 'no_more_history');
      expect(again.output()).toBe('second\n');
      expect(again.frames.find((f) => f.type === 'exit')).toMatchObject({ exit: { code: 0 } });
      expect(done.watermark).toBe(byWatermark(again.frames).at(-1)?.watermark);
      // Orchard leaves the socket open after the exit; the client closes the session.
      again.send({ type: 'close' });
      expect(await again.closed).toEqual({ code: 1000, reason: 'exec session is closed' });
      await expect(client.vms.exec(vm.name, { session: id })).rejects.toMatchObject({
        status: 404,
        message: `exec session "${id}" does not exist`,
      });
    });

    it('SessionReconnectAfterExit: the output and the exit are replayed after the command ended', async () => {
      const id = 'after-exit-1';
      const first = await open({ command: 'sleep 0.3; echo late', session: id });
      first.send({ type: 'detach' });
      await first.closed;
      await commandEnded(id);
      const again = await open({ session: id });
      again.send({ type: 'history', watermark: 0 });
      await again.frame((f) => f.type === 'no_more_history', 'no_more_history');
      expect(again.output()).toBe('late\n');
      expect(again.frames.find((f) => f.type === 'exit')).toMatchObject({ exit: { code: 0 } });
      again.send({ type: 'close' });
      await again.closed;
    });

    it('ReplayPreservesStreams: the replay keeps the order and the stream of every frame', async () => {
      const id = 'streams-1';
      const first = await open({
        command: 'echo o1; sleep 0.05; echo e1 >&2; sleep 0.05; echo o2; sleep 0.05; echo e2 >&2',
        session: id,
      });
      await first.frame((f) => f.type === 'exit', 'the exit');
      const live = byWatermark(first.frames);
      first.send({ type: 'detach' });
      await first.closed;
      const again = await open({ session: id });
      again.send({ type: 'history' });
      await again.frame((f) => f.type === 'no_more_history', 'no_more_history');
      const replayed = again.frames.filter((f) => f.type !== 'no_more_history');
      expect(replayed).toEqual(live);
      expect(
        replayed.map(
          (f) =>
            `${f.type}:${Buffer.from(f.data ?? '', 'base64')
              .toString()
              .trim()}`,
        ),
      ).toEqual(['stdout:o1', 'stderr:e1', 'stdout:o2', 'stderr:e2', 'exit:']);
      again.send({ type: 'close' });
      await again.closed;
    });

    it('StdinSurvivesReconnect: an interactive cat across two sockets; history de-duplicates', async () => {
      const id = 'stdin-1';
      const first = await open({ command: 'cat', session: id, interactive: true });
      first.stdin('one\n');
      await first.outputContains('one\n');
      first.send({ type: 'detach' });
      await first.closed;
      const again = await open({ session: id, command: 'cat', interactive: true });
      again.stdin('two\n');
      await again.outputContains('two\n');
      again.send({ type: 'history' });
      await again.frame((f) => f.type === 'no_more_history', 'no_more_history');
      again.send({ type: 'history' });
      await waitFor(
        'the second no_more_history',
        () => again.frames.filter((f) => f.type === 'no_more_history').length === 2,
      );
      const output = again.frames.filter((f) => f.type === 'stdout');
      expect(output.map((f) => f.watermark)).toEqual([...new Set(output.map((f) => f.watermark))]);
      expect(again.output('stdout', byWatermark(again.frames))).toBe('one\ntwo\n');
      await expect(open({ session: id, command: 'cat' })).rejects.toMatchObject({ status: 409 });
      again.send({ type: 'close' });
      await again.closed;
    });
  });

  describe('POST /v1/vms/{name}/exec', () => {
    const url = () => `${controller.url}/v1/vms/${vm.name}/exec`;
    const auth = () =>
      `Authorization: Basic ${Buffer.from(`${BOOTSTRAP_ADMIN}:${controller.adminToken}`).toString('base64')}`;

    it('streams NDJSON to curl: started, output, exit', async () => {
      const { stdout, code } = await curl([
        '-sS',
        '-N',
        '-H',
        auth(),
        '-d',
        JSON.stringify({ command: 'sh', args: ['-c', 'echo hi; echo oops >&2; exit 3'] }),
        url(),
      ]);
      expect(code).toBe(0);
      const events = ndjson(stdout);
      expect(events[0]).toEqual({ event: 'started', via: expect.stringMatching(/^(agent|ssh)$/) });
      expect(events.filter((e) => e.event === 'stdout')).toEqual([{ event: 'stdout', data: 'hi\n' }]);
      expect(events.filter((e) => e.event === 'stderr')).toEqual([{ event: 'stderr', data: 'oops\n' }]);
      expect(events.at(-1)).toEqual({ event: 'exit', code: 3 });
    });

    it('sends output that is not UTF-8 as base64, and takes stdin', async () => {
      const { stdout } = await curl([
        '-sS',
        '-N',
        '-H',
        auth(),
        '-H',
        'Content-Type: application/json',
        '-d',
        JSON.stringify({ command: 'sh', args: ['-c', "printf '\\377\\376'; cat"], stdin: 'from stdin' }),
        url(),
      ]);
      const events = ndjson(stdout);
      const output = Buffer.concat(
        events
          .filter((e): e is Extract<ExecEvent, { data: string }> => e.event === 'stdout')
          .map((e) => Buffer.from(e.data, e.encoding === 'base64' ? 'base64' : 'utf8')),
      );
      expect(output).toEqual(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('from stdin')]));
      expect(events.some((e) => e.event === 'stdout' && e.encoding === 'base64')).toBe(true);
      expect(events.at(-1)).toEqual({ event: 'exit', code: 0 });
    });

    it('answers errors before the start as JSON (curl sees the status)', async () => {
      const { stdout } = await curl(['-sS', '-H', auth(), '-w', '\n%{http_code}', '-d', '{"args":[]}', url()]);
      const [body, status] = stdout.split('\n');
      expect(status).toBe('400');
      expect(JSON.parse(body).message).toMatch(/command/);
    });

    it('yields events through the client library, and kills on timeout', async () => {
      const events: ExecEvent[] = [];
      for await (const event of client.vms.execStream(vm.name, {
        command: 'sh',
        args: ['-c', 'echo "$GREETING from $(pwd)"'],
        env: { GREETING: 'hello' },
        workdir: '/tmp',
      })) {
        events.push(event);
      }
      expect(events.slice(1)).toEqual([
        { event: 'stdout', data: 'hello from /tmp\n' },
        { event: 'exit', code: 0 },
      ]);
      const timedOut: ExecEvent[] = [];
      for await (const event of client.vms.execStream(vm.name, { command: 'sleep', args: ['30'], timeout: 0.5 })) {
        timedOut.push(event);
      }
      expect(timedOut.at(-1)).toEqual({
        event: 'error',
        message: 'the command did not finish within its timeout of 0.5 s and was killed',
      });
    });
  });

  describe('access and audit', () => {
    it('denies an account without compute roles on both endpoints (403)', async () => {
      const reader = await client.serviceAccounts.create({ name: 'exec-reader', roles: ['compute:read'] });
      const readerClient = new GroveClient({
        url: controller.url,
        serviceAccountName: reader.name,
        serviceAccountToken: reader.token,
      });
      const message = 'any of the following roles must be present: compute:write, compute:connect';
      await expect(readerClient.vms.exec(vm.name, { command: 'true' })).rejects.toMatchObject({ status: 403, message });
      await expect(readerClient.vms.execStream(vm.name, { command: 'true' }).next()).rejects.toMatchObject({
        status: 403,
        message,
      });
    });

    it('records an audit event for each exec', async () => {
      const s = await open({ command: 'echo audited; exit 5' });
      await s.closed;
      const record = await waitFor(
        'the audit event',
        async () => {
          const events = (await client.vms.allEvents(vm.name)).filter((e) => e.kind === 'audit');
          const records = events.map((e) => JSON.parse(e.payload) as Record<string, unknown>);
          return records.find((r) => r['type'] === 'exec' && r['command'] === 'echo audited; exit 5');
        },
        10_000,
        50,
      );
      expect(record).toMatchObject({
        type: 'exec',
        endpoint: 'websocket',
        account: BOOTSTRAP_ADMIN,
        remoteAddress: '127.0.0.1',
        vm: vm.name,
        vmUid: vm.uid,
        worker: workerName,
        tty: false,
        interactive: false,
        bytesIn: 0,
        bytesOut: 'audited\n'.length,
        exitCode: 5,
        via: expect.stringMatching(/^(agent|ssh)$/),
        durationMs: expect.any(Number),
      });
      expect(controller.output()).toMatch(/Audit.*"type":"exec"/);
    });
  });
});
