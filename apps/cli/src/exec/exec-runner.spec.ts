import { PassThrough, Writable } from 'node:stream';
import { GroveClient } from '@grove/client';
import { json, startFakeController, type FakeController } from '../test-support/fake-controller';
import { FakeExecSessions, legacyExec, type FakeExecSession } from '../test-support/fake-exec';
import { runExec, type ExecDeps, type ExecPlan } from './exec-runner';
import { DEFAULT_TERMINAL_SIZE, type LocalTerminal } from './terminal';

/** The runner with captured streams, a terminal that is not one, and reconnect delays of a few milliseconds. */
function harness(fake: FakeController) {
  const client = new GroveClient({ url: fake.url });
  let stdout = '';
  const said: string[] = [];
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        append(chunk.toString('utf8'));
        callback();
      },
    });
  const terminal: LocalTerminal = {
    canRaw: false,
    setRaw: () => undefined,
    size: () => DEFAULT_TERMINAL_SIZE,
    onResize: () => () => undefined,
  };
  const deps: ExecDeps = {
    open: (params, signal) => client.vms.exec('v1', params, { signal }),
    streams: { stdin: new PassThrough(), stdout: sink((text) => (stdout += text)), stderr: sink(() => undefined) },
    terminal,
    onInterrupt: () => () => undefined,
    say: (line) => said.push(line),
    reattachHint: 'grove exec vm v1 --session s',
    reconnectDelaysMs: [1, 2, 3],
  };
  return { deps, said, stdout: () => stdout, close: () => client.close() };
}

const plan = (overrides: Partial<ExecPlan> = {}): ExecPlan => ({
  vm: 'v1',
  command: 'job',
  stdin: false,
  tty: false,
  env: {},
  wait: 10,
  ...overrides,
});

describe('exec runner', () => {
  let fake: FakeController;

  beforeEach(async () => {
    fake = await startFakeController((_req, res) => json(res, 404, {}));
  });

  afterEach(async () => {
    await fake.close();
  });

  it('gives up after the configured reconnect attempts fail, and says how to reattach later', async () => {
    let session!: FakeExecSession;
    const sessions = new FakeExecSessions((s) => {
      session = s;
      s.stdout('one\n');
      setImmediate(() => {
        fake.upgrade = () => ({ status: 503, body: { message: 'worker "mac-1" is not connected' } });
        s.drop();
      });
    });
    fake.upgrade = sessions.route;
    const h = harness(fake);

    const code = await runExec(plan({ session: 's' }), h.deps);
    h.close();

    expect(code).toBe(255);
    expect(h.stdout()).toBe('one\n');
    const unavailable = 'controller answered 503: worker "mac-1" is not connected';
    expect(h.said).toEqual([
      expect.stringMatching(/^grove: lost the connection to exec session "s" \(.+\); reconnecting \(1\/3\)$/),
      `grove: lost the connection to exec session "s" (${unavailable}); reconnecting (2/3)`,
      `grove: lost the connection to exec session "s" (${unavailable}); reconnecting (3/3)`,
      `Error: gave up reconnecting to exec session "s" (${unavailable})`,
      'Reattach with: grove exec vm v1 --session s',
    ]);
    expect(session.calls).toHaveLength(1);
  });

  it('stops reconnecting when the controller no longer knows the session (it restarted)', async () => {
    const sessions = new FakeExecSessions((s) => {
      setImmediate(() => {
        sessions.sessions.clear();
        s.drop();
      });
    });
    fake.upgrade = sessions.route;
    const h = harness(fake);

    const code = await runExec(plan({ session: 's' }), h.deps);
    h.close();

    expect(code).toBe(255);
    expect(h.said.at(-1)).toBe(
      'Error: cannot reattach to exec session "s": controller answered 404: exec session "s" does not exist',
    );
  });

  it('a WebSocket that is accepted and dropped without a frame counts as a failed attempt (no endless loop)', async () => {
    const sessions = new FakeExecSessions((s) => {
      s.stdout('one\n');
      // From now on every attach is accepted and cut at once.
      setImmediate(() => {
        const route = sessions.route;
        fake.upgrade = (req) => {
          const answer = route(req);
          return typeof answer === 'function' ? (ws) => ws.terminate() : answer;
        };
        s.drop();
      });
    });
    fake.upgrade = sessions.route;
    const h = harness(fake);

    expect(await runExec(plan({ session: 's' }), h.deps)).toBe(255);
    h.close();
    expect(h.said.filter((line) => line.includes('; reconnecting ('))).toHaveLength(3);
  });

  it('without a session writes every frame as it comes (watermarks mean nothing there)', async () => {
    fake.upgrade = legacyExec((call) => {
      call.stdout('a', 5);
      call.stdout('b', 5);
      call.exit(0);
    });
    const h = harness(fake);
    expect(await runExec(plan(), h.deps)).toBe(0);
    h.close();
    expect(h.stdout()).toBe('ab');
  });
});
