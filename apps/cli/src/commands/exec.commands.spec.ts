import { randomBytes } from 'node:crypto';
import { cli, useFakeController } from '../test-support/fake-controller';
import { FakeExecSessions, legacyExec, type ExecCall, type FakeExecSession } from '../test-support/fake-exec';
import { startTerminalCli } from '../test-support/terminal-cli';
import { waitUntil } from '../test-support/wait-until';

const ISSUE_COMMAND = ['sh', '-c', 'echo out; echo err >&2; exit 7'];

describe('grove exec (in-process, against a fake exec endpoint)', () => {
  const t = useFakeController();

  describe('without a session', () => {
    it('runs the words as one command line; stdout and stderr apart; exits with the exit code', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec((call) => {
        call.stdout('out\n');
        call.stderr('err\n');
        call.exit(7);
      }, calls);

      const result = await cli(t.env, 'exec', 'vm', 'v1', '--', ...ISSUE_COMMAND);

      expect(result).toEqual({ code: 7, stdout: 'out\n', stderr: 'err\n' });
      expect(t.fake.requests.map((r) => r.url.split('?')[0])).toEqual(['/v1/vms/v1/exec']);
      expect(Object.fromEntries(calls[0].query)).toEqual({
        command: "sh -c 'echo out; echo err >&2; exit 7'",
        wait: '60',
      });
      expect(t.fake.requests[0].authorization).toBe(`Basic ${Buffer.from('admin:secret').toString('base64')}`);
      // Without -i nothing is read from stdin or sent.
      expect(calls[0].received).toEqual([]);
    });

    it('takes options after the VM name and a command without "--"; binary output arrives byte-exact', async () => {
      const bytes = randomBytes(100_000);
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec((call) => {
        for (let i = 0; i < bytes.length; i += 4096) {
          call.send({ type: 'stdout', data: bytes.subarray(i, i + 4096).toString('base64') });
        }
        call.exit(0);
      }, calls);
      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '--wait', '5', 'cat', '/dev/urandom']);

      expect((await run.result).code).toBe(0);
      expect(run.stdoutBytes().equals(bytes)).toBe(true);
      expect(calls[0].query.get('command')).toBe('cat /dev/urandom');
      expect(calls[0].query.get('wait')).toBe('5');
    });

    it('-i streams stdin as base64 frames and ends it with an empty frame', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec(async (call) => {
        await call.frame((f) => f.type === 'stdin' && (f.data ?? '') === '');
        call.stdout(call.stdinText().toUpperCase());
        call.exit(0);
      }, calls);

      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '-i', '--', 'cat']);
      run.type('hello\n');
      run.type(Buffer.from('wörld\n'));
      run.endInput();

      expect(await run.result).toEqual({ code: 0, stdout: 'HELLO\nWÖRLD\n', stderr: '' });
      expect(calls[0].query.get('interactive')).toBe('true');
      expect(calls[0].query.get('tty')).toBeNull();
      expect(calls[0].received.at(-1)).toEqual({ type: 'stdin', data: '' });
    });

    it('-i carries megabytes of stdin intact, in order', async () => {
      const input = randomBytes(3 * 1024 * 1024);
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec(async (call) => {
        await call.frame((f) => f.type === 'stdin' && (f.data ?? '') === '');
        const got = Buffer.concat(
          call.received.filter((f) => f.type === 'stdin').map((f) => Buffer.from(f.data ?? '', 'base64')),
        );
        call.stdout(got.equals(input) ? 'same\n' : `different: ${got.length} bytes\n`);
        call.exit(0);
      }, calls);

      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '-i', '--', 'sha256sum']);
      for (let i = 0; i < input.length; i += 256 * 1024) {
        run.type(input.subarray(i, i + 256 * 1024));
      }
      run.endInput();

      expect(await run.result).toEqual({ code: 0, stdout: 'same\n', stderr: '' });
      expect(Math.max(...calls[0].received.map((f) => Buffer.from(f.data ?? '', 'base64').length))).toBeLessThanOrEqual(
        48 * 1024,
      );
    });

    it('-e, -w, -t and the terminal size reach the query; raw mode while running; resize frames on SIGWINCH', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec(async (call) => {
        await call.frame((f) => f.type === 'resize');
        call.stdout('resized\n');
        await call.frame((f) => f.type === 'stdin' && f.data === Buffer.from('q').toString('base64'));
        call.exit(0);
      }, calls);
      const env = { ...t.env, FROM_HERE: 'local value' };
      const args = ['exec', 'vm', 'v1', '-it', '-e', 'GREETING=hello', '-e', 'EMPTY=', '-e', 'FROM_HERE'];
      const run = startTerminalCli(env, [...args, '-w', '/tmp', '--', 'stty', 'size'], {
        tty: { rows: 40, cols: 120 },
      });
      await waitUntil(() => calls.length === 1);
      // The CLI turns raw mode on once its side of the WebSocket is open, a moment after the endpoint saw the upgrade.
      await waitUntil(() => run.terminal.rawModes.length > 0);
      expect(run.terminal.rawModes).toEqual([true]);

      run.terminal.resize(50, 132);
      await run.waitForOutput(/resized/);
      run.type('q');

      expect(await run.result).toEqual({ code: 0, stdout: 'resized\n', stderr: '' });
      expect(run.terminal.rawModes).toEqual([true, false]);
      const query = Object.fromEntries(calls[0].query);
      expect(query).toMatchObject({
        command: 'stty size',
        interactive: 'true',
        tty: 'true',
        rows: '40',
        cols: '120',
        workdir: '/tmp',
      });
      expect(calls[0].env()).toEqual({ GREETING: 'hello', EMPTY: '', FROM_HERE: 'local value' });
      expect(calls[0].received.filter((f) => f.type === 'resize')).toEqual([
        { type: 'resize', terminal: { rows: 50, cols: 132 } },
      ]);
    });

    it('-t without a terminal asks for a 24x80 PTY and touches no terminal mode', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec((call) => call.exit(0), calls);
      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '-t', '--', 'top', '-b']);

      expect((await run.result).code).toBe(0);
      expect(run.terminal.rawModes).toEqual([]);
      expect(Object.fromEntries(calls[0].query)).toMatchObject({ tty: 'true', rows: '24', cols: '80' });
      expect(calls[0].query.get('interactive')).toBeNull();
    });

    it('an error frame is printed and exits 255', async () => {
      t.fake.upgrade = legacyExec((call) => {
        call.send({ type: 'error', error: 'failed to start command: no such agent' });
        call.ws.close(1000, 'Command finished');
      });
      const result = await cli(t.env, 'exec', 'vm', 'v1', '--', 'true');
      expect(result).toEqual({ code: 255, stdout: '', stderr: 'Error: failed to start command: no such agent\n' });
    });

    it.each([
      [404, 'VM "v1" not found'],
      [408, 'VM "v1" did not start running within 60 s'],
      [503, 'worker "mac-1" is not connected'],
    ])('a handshake refused with %i is reported like every API error, exit 255', async (status, message) => {
      t.fake.upgrade = () => ({ status, body: { message } });
      const result = await cli(t.env, 'exec', 'vm', 'v1', '--', 'true');
      expect(result).toEqual({ code: 255, stdout: '', stderr: `Error: controller answered ${status}: ${message}\n` });
    });

    it('a connection that ends before the exit frame is an error (255), after the output so far', async () => {
      t.fake.upgrade = legacyExec((call) => {
        const partial = { type: 'stdout', data: Buffer.from('partial\n').toString('base64') };
        call.ws.send(JSON.stringify(partial), () => call.ws.terminate());
      });
      const result = await cli(t.env, 'exec', 'vm', 'v1', '--', 'long-job');
      expect(result.code).toBe(255);
      expect(result.stdout).toBe('partial\n');
      expect(result.stderr).toMatch(/^Error: the connection to the controller ended before the command did \(/);
      expect(result.stderr).toContain('without --session the controller stops the command');
    });

    it('Ctrl-C closes the WebSocket (the controller then stops the command) and exits 130', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec((call) => call.stdout('running\n'), calls);
      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '--', 'sleep', '1000']);
      await run.waitForOutput(/running/);
      run.interrupt();

      expect(await run.result).toEqual({ code: 130, stdout: 'running\n', stderr: '' });
      expect((await calls[0].closed).code).toBe(1000);
    });

    it('a one-word command line that is not found gets a hint about sh -c', async () => {
      const calls: ExecCall[] = [];
      t.fake.upgrade = legacyExec((call) => {
        call.stderr('sh: 1: ls -l | wc -l: not found\n');
        call.exit(127);
      }, calls);
      const result = await cli(t.env, 'exec', 'vm', 'v1', '--', 'ls -l | wc -l');
      expect(result.code).toBe(127);
      expect(result.stderr).toBe(
        'sh: 1: ls -l | wc -l: not found\n' +
          'Hint: "ls -l | wc -l" ran as one program name (grove exec takes a program and its arguments); ' +
          "for a shell command line use: sh -c 'ls -l | wc -l'\n",
      );
      expect(calls[0].query.get('command')).toBe("'ls -l | wc -l'");
    });

    it.each([
      [['-e', '1X=2', '--', 'env'], 'Error: invalid -e/--env "1X=2": the variable name "1X" must match'],
      [['-e', 'NOT_SET_ANYWHERE'], 'Error: invalid -e/--env "NOT_SET_ANYWHERE": NOT_SET_ANYWHERE is not set here'],
      [[], 'Error: no command: give one after "--"'],
      [['--session', 's', '-w', '/tmp'], 'Error: -e/--env and -w/--workdir apply to a new command'],
      [['--bogus', 'x'], "Error: unknown option '--bogus'"],
    ])('rejects a bad command line %j with exit 2 and no request', async (args, message) => {
      const result = await cli(t.env, 'exec', 'vm', 'v1', ...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(t.fake.requests).toEqual([]);
    });
  });

  describe('with --session', () => {
    it.each([
      ['a faithful history', false],
      ['a history that repeats everything', true],
    ])(
      'reconnects after a dropped connection and continues from the last watermark without duplicates (%s)',
      async (_name, sloppy) => {
        let session!: FakeExecSession;
        const sessions = new FakeExecSessions(async (s) => {
          session = s;
          s.stdout('one\n');
          await waitUntil(() => s.acked >= 1);
          s.stderr('two\n');
          await waitUntil(() => s.acked >= 2);
          s.drop();
          s.stdout('three\n'); // while nobody is attached: only the replay can deliver it
          await waitUntil(() => s.calls.length === 2 && s.subscribers.size === 1);
          s.stdout('four\n');
          s.exit(3);
        });
        sessions.sloppyHistory = sloppy;
        t.fake.upgrade = sessions.route;

        const result = await cli(t.env, 'exec', 'vm', 'v1', '--session', 'build', '--', 'make', 'all');

        expect(result.code).toBe(3);
        expect(result.stdout).toBe('one\nthree\nfour\n');
        expect(result.stderr).toMatch(
          /^two\ngrove: lost the connection to exec session "build" \([^)]+\); reconnecting \(1\/5\)\n$/,
        );
        const [first, second] = session.calls;
        expect(Object.fromEntries(first.query)).toEqual({ command: 'make all', session: 'build', wait: '60' });
        expect(Object.fromEntries(second.query)).toEqual({ session: 'build', wait: '60' });
        expect(first.received[0]).toEqual({ type: 'history', watermark: 0 });
        expect(second.received[0]).toEqual({ type: 'history', watermark: 2 });
        // The end was shown: the session is closed (removed), so the same command line would run make again.
        await waitUntil(() => session.closedByClient);
      },
    );

    it('Ctrl-C detaches (the command keeps running) and says how to reattach; reattaching shows what was missed', async () => {
      let session!: FakeExecSession;
      const sessions = new FakeExecSessions((s) => {
        session = s;
        s.stdout('started\n');
      });
      t.fake.upgrade = sessions.route;
      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '--session', 'job-1', '--', 'sleep', '100']);
      await run.waitForOutput(/started/);
      run.interrupt(); // at once: the ack of "started" goes out before the detach

      expect(await run.result).toEqual({
        code: 130,
        stdout: 'started\n',
        stderr:
          'Detached from exec session "job-1" on vm/v1; it keeps running.\n' +
          'Reattach with: grove exec vm v1 --session job-1\n',
      });
      expect(session.detaches).toBe(1);
      expect(session.closedByClient).toBe(false);

      session.stdout('while away\n');
      session.exit(0);
      const again = await cli(t.env, 'exec', 'vm', 'v1', '--session', 'job-1');

      expect(again).toEqual({ code: 0, stdout: 'while away\n', stderr: '' });
      expect(Object.fromEntries(session.calls[1].query)).toEqual({ session: 'job-1', wait: '60' });
      await waitUntil(() => session.closedByClient);
    });

    it('-it: raw terminal, Ctrl-C goes to the program, Ctrl-P Ctrl-Q detaches; reattaching with -t sends the size', async () => {
      let session!: FakeExecSession;
      const sessions = new FakeExecSessions((s) => {
        session = s;
        s.stdout('$ ');
      });
      t.fake.upgrade = sessions.route;
      const run = startTerminalCli(t.env, ['exec', 'vm', 'v1', '-it', '--session', 'sh', '--', 'sh'], {
        tty: { rows: 30, cols: 100 },
      });
      await run.waitForOutput(/\$ /);
      run.type('\x03');
      await session.calls[0].frame((f) => f.type === 'stdin' && f.data === Buffer.from('\x03').toString('base64'));
      run.type('\x10\x11');

      expect(await run.result).toEqual({
        code: 130,
        stdout: '$ ',
        stderr:
          '\nDetached from exec session "sh" on vm/v1; it keeps running.\n' +
          'Reattach with: grove exec vm v1 --session sh -it\n',
      });
      expect(run.terminal.rawModes).toEqual([true, false]);
      expect(Object.fromEntries(session.calls[0].query)).toMatchObject({ tty: 'true', rows: '30', cols: '100' });

      const again = startTerminalCli(t.env, ['exec', 'vm', 'v1', '--session', 'sh', '-it'], {
        tty: { rows: 50, cols: 200 },
      });
      await waitUntil(() => session.calls.length === 2);
      const resize = await session.calls[1].frame((f) => f.type === 'resize');
      expect(resize).toEqual({ type: 'resize', terminal: { rows: 50, cols: 200 } });
      session.exit(0);
      expect((await again.result).code).toBe(0);
    });

    it('reattaching to a session that does not exist fails with the controller message (255)', async () => {
      t.fake.upgrade = new FakeExecSessions(() => undefined).route;
      const result = await cli(t.env, 'exec', 'vm', 'v1', '--session', 'nope');
      expect(result).toEqual({
        code: 255,
        stdout: '',
        stderr: 'Error: controller answered 404: exec session "nope" does not exist\n',
      });
    });
  });
});
