import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { ExecFrame } from '@grove/resources';
import { ShellSession, type Diagnosis, type ShellState } from './shell-session';

/** A WebSocket the test opens, feeds and closes by hand. */
class FakeSocket {
  readyState = 0;
  readonly sent: ExecFrame[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;

  constructor(readonly query: URLSearchParams) {}

  send(text: string): void {
    this.sent.push(JSON.parse(text) as ExecFrame);
  }

  close(code = 1005, reason = ''): void {
    if (this.readyState === 3) {
      return;
    }
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }

  receive(frame: ExecFrame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

// The console's tsconfig has the DOM's types, not Node's: no Buffer here.
const b64 = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

function startShell(diagnosis: Diagnosis = { final: false, message: 'the connection failed' }) {
  const sockets: FakeSocket[] = [];
  const states: ShellState[] = [];
  const output: string[] = [];
  let size = { rows: 24, cols: 80 };
  const diagnose = jest.fn((_attaching: boolean) => Promise.resolve(diagnosis));
  const shell = new ShellSession({
    open: (query) => {
      const socket = new FakeSocket(query);
      sockets.push(socket);
      return socket as unknown as WebSocket;
    },
    command: 'exec sh -l',
    sessionId: 'console-1',
    size: () => size,
    onOutput: (bytes) => output.push(new TextDecoder().decode(bytes)),
    onState: (state) => states.push(state),
    diagnose,
    reconnectDelaysMs: [10, 10, 10],
  });
  shell.start();
  return {
    shell,
    sockets,
    states,
    output,
    diagnose,
    last: () => sockets[sockets.length - 1],
    resizeTo: (rows: number, cols: number) => (size = { rows, cols }),
  };
}

/** Lets the promise callbacks (a diagnosis) run, then the timers (a reconnect delay). */
async function settle(): Promise<void> {
  await Promise.resolve();
  await Promise.resolve();
  jest.advanceTimersByTime(1000);
}

describe('ShellSession', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('creates a reconnectable TTY session, asks its history and sends keystrokes as stdin', () => {
    const t = startShell();
    const first = t.last();
    expect(Object.fromEntries(first.query)).toEqual({
      session: 'console-1',
      wait: '15',
      command: 'exec sh -l',
      tty: 'true',
      rows: '24',
      cols: '80',
      'env[TERM]': 'xterm-256color',
      'env[COLORTERM]': 'truecolor',
      detachTimeout: '300',
    });
    first.open();
    expect(t.states).toEqual([{ kind: 'connecting' }, { kind: 'connected' }]);
    expect(first.sent).toEqual([{ type: 'history', watermark: 0 }]);

    t.shell.input('é\r');
    expect(first.sent[1]).toEqual({ type: 'stdin', data: b64('é\r') });
    first.receive({ type: 'no_more_history', watermark: 0 });
    first.receive({ type: 'stdout', data: b64('$ '), watermark: 1 });
    expect(t.output).toEqual(['$ ']);
    jest.advanceTimersByTime(200);
    expect(first.sent).toContainEqual({ type: 'ack', watermark: 1 });
  });

  it('reattaches after a drop, shows what it missed once and in order, then sends what was typed meanwhile', async () => {
    const t = startShell();
    const first = t.last();
    first.open();
    first.receive({ type: 'no_more_history', watermark: 0 });
    first.receive({ type: 'stdout', data: b64('a'), watermark: 1 });
    first.receive({ type: 'stdout', data: b64('b'), watermark: 2 });

    first.close(1006);
    expect(t.states[t.states.length - 1]).toEqual({
      kind: 'reconnecting',
      attempt: 1,
      reason: 'the connection dropped',
    });
    t.shell.input('x');
    t.resizeTo(30, 100);
    await settle();

    const second = t.last();
    expect(second).not.toBe(first);
    // Attaching only: a session that is gone must not be started again under the same id.
    expect(Object.fromEntries(second.query)).toEqual({ session: 'console-1', wait: '15' });
    second.open();
    expect(second.sent).toEqual([
      { type: 'history', watermark: 2 },
      { type: 'resize', terminal: { rows: 30, cols: 100 } },
      { type: 'stdin', data: b64('x') },
    ]);
    // A live frame may overtake the replay: it waits for the gap to be filled.
    second.receive({ type: 'stdout', data: b64('d'), watermark: 4 });
    second.receive({ type: 'stdout', data: b64('b'), watermark: 2 });
    second.receive({ type: 'stdout', data: b64('c'), watermark: 3 });
    second.receive({ type: 'no_more_history', watermark: 4 });
    second.receive({ type: 'stdout', data: b64('d'), watermark: 4 });
    expect(t.output.join('')).toBe('abcd');
    expect(t.states[t.states.length - 1]).toEqual({ kind: 'connected' });
  });

  it('ends on the exit frame: closes the session and does not reconnect', async () => {
    const t = startShell();
    const first = t.last();
    first.open();
    first.receive({ type: 'exit', exit: { code: 3 }, watermark: 1 });
    expect(t.states[t.states.length - 1]).toEqual({ kind: 'exited', code: 3 });
    expect(first.sent[first.sent.length - 1]).toEqual({ type: 'close' });
    expect(first.readyState).toBe(3);
    await settle();
    expect(t.sockets).toHaveLength(1);
  });

  it('stops when the diagnosis of a refused attempt is final', async () => {
    const t = startShell({ final: true, message: 'VM v is not running: it is pending.' });
    t.last().close(1006);
    await settle();
    expect(t.diagnose).toHaveBeenCalledWith(false);
    expect(t.states[t.states.length - 1]).toEqual({
      kind: 'failed',
      message: 'VM v is not running: it is pending.',
      canRetry: false,
    });
    expect(t.sockets).toHaveLength(1);
  });

  it('retries a refused first attempt with the same options, and gives up after the last delay', async () => {
    const t = startShell();
    t.resizeTo(50, 200);
    for (let i = 0; i < 4; i++) {
      t.last().close(1006);
      await settle();
    }
    expect(t.sockets).toHaveLength(4);
    expect(t.sockets.every((s) => s.query.get('rows') === '24' && s.query.get('command') !== null)).toBe(true);
    expect(t.states[t.states.length - 1]).toMatchObject({ kind: 'failed', canRetry: false });
  });

  it('probes a silent connection and reattaches when the probe goes unanswered', () => {
    const t = startShell();
    const first = t.last();
    first.open();
    first.receive({ type: 'no_more_history', watermark: 0 });
    jest.advanceTimersByTime(16_000);
    expect(first.sent[first.sent.length - 1]).toEqual({ type: 'history', watermark: 0 });
    // Answered: the connection stays.
    first.receive({ type: 'no_more_history', watermark: 0 });
    jest.advanceTimersByTime(12_000);
    expect(t.sockets).toHaveLength(1);
    // The next probe goes unanswered: the socket is left and a new one attaches.
    jest.advanceTimersByTime(16_000);
    expect(first.readyState).toBe(3);
    expect(t.states).toContainEqual({ kind: 'reconnecting', attempt: 1, reason: 'the connection stopped answering' });
    expect(t.sockets).toHaveLength(2);
    expect(t.last().query.get('command')).toBeNull();
  });

  it('closes the session when disposed', () => {
    const t = startShell();
    const first = t.last();
    first.open();
    t.shell.dispose();
    expect(first.sent[first.sent.length - 1]).toEqual({ type: 'close' });
    expect(first.readyState).toBe(3);
  });
});
