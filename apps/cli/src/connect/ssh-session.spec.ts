import type { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import type { Client } from 'ssh2';
import { startFakeSshServer, type FakeSshServer } from '../test-support/fake-ssh-server';
import { exitCodeOf, runSshSession, sshConnect } from './ssh-session';
import { waitUntil } from '../test-support/wait-until';

describe('exitCodeOf', () => {
  it.each([
    [0, undefined, 0],
    [3, undefined, 3],
    [256 + 7, undefined, 7],
    [null, 'SIGTERM', 143],
    [null, 'KILL', 137],
    [null, 'SIGINT', 130],
    [null, 'SIGBOGUS', 255],
    [undefined, undefined, 255],
  ])('status %p, signal %p -> %p', (code, signal, expected) => {
    expect(exitCodeOf(code, signal)).toBe(expected);
  });
});

/** A terminal stand-in: stdin with raw mode, stdout with a size that can change. */
function fakeTerminal() {
  const modes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode: (mode: boolean) => modes.push(mode),
  });
  let output = '';
  const stdout = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        output += chunk.toString('utf8');
        callback();
      },
    }),
    { isTTY: true, rows: 40, columns: 120 },
  );
  return { stdin, stdout, modes, output: () => output };
}

describe('runSshSession', () => {
  let sshd: FakeSshServer;
  let client: Client;

  beforeEach(async () => {
    sshd = await startFakeSshServer();
    client = await sshConnect(connect(sshd.port, '127.0.0.1'), { username: 'admin', password: 'admin' });
  });

  afterEach(async () => {
    client.end();
    await sshd.close();
  });

  it('opens a shell on a PTY of the terminal size, raw for the session, and forwards resizes', async () => {
    const terminal = fakeTerminal();
    const session = runSshSession(client, {
      command: '',
      forcePty: false,
      term: 'xterm-kitty',
      streams: { stdin: terminal.stdin, stdout: terminal.stdout, stderr: new PassThrough() },
    });
    terminal.stdin.write('typed\n');
    await waitUntil(() => terminal.output() === 'typed\n');
    Object.assign(terminal.stdout, { rows: 50, columns: 132 });
    (terminal.stdout as EventEmitter).emit('resize');
    await waitUntil(() => sshd.sessions[0]?.windowChanges.length === 1);
    terminal.stdin.end();

    expect(await session).toEqual({ exitCode: 0 });
    expect(terminal.modes).toEqual([true, false]);
    expect(sshd.sessions[0]).toMatchObject({
      pty: { term: 'xterm-kitty', rows: 40, cols: 120 },
      windowChanges: [{ rows: 50, cols: 132 }],
    });
    expect(terminal.stdin.isPaused()).toBe(true);
  });

  it('runs a command without a PTY even on a terminal, unless forced', async () => {
    const terminal = fakeTerminal();
    const streams = { stdin: terminal.stdin, stdout: terminal.stdout, stderr: new PassThrough() };
    const plain = await runSshSession(client, { command: 'echo hi', forcePty: false, term: 'xterm', streams });
    const forced = await runSshSession(client, { command: 'echo hi', forcePty: true, term: 'xterm', streams });
    expect([plain, forced]).toEqual([{ exitCode: 0 }, { exitCode: 0 }]);
    expect(sshd.sessions.map((s) => s.pty)).toEqual([undefined, { term: 'xterm', rows: 40, cols: 120 }]);
    expect(terminal.modes).toEqual([true, false]);
  });
});
