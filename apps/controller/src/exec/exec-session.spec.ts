import {
  CLOSE_POLICY_VIOLATION,
  EXEC_CHUNK_BYTES,
  ExecSession,
  REPLAY_BUFFER_BYTES,
  SUBSCRIBER_QUEUE_FRAMES,
  type ExecSessionOptions,
} from './exec-session';
import { FakeExec, FakeSocket } from './test-support/fake-exec';

function session(options: Partial<ExecSessionOptions> = {}) {
  const exec = new FakeExec();
  const s = new ExecSession(exec, { interactive: false, tty: false, retentionMs: 60_000, ...options });
  return { exec, s };
}

const stdin = (text: string) => JSON.stringify({ type: 'stdin', data: Buffer.from(text).toString('base64') });

describe('legacy exec sessions', () => {
  it('streams output, sends exit and closes with 1000 "Command finished"', () => {
    const { exec, s } = session();
    const socket = new FakeSocket();
    s.attach(socket);
    exec.out('stdout', 'Hello, World!\n');
    exec.out('stderr', 'oops\n');
    exec.finish({ exitCode: 7 });
    expect(socket.output('stdout')).toBe('Hello, World!\n');
    expect(socket.output('stderr')).toBe('oops\n');
    expect(socket.sent.at(-1)).toEqual({ type: 'exit', exit: { code: 7 } });
    expect(socket.sent.some((f) => 'watermark' in f)).toBe(false);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'Command finished' });
    expect(s.closed).toBe(true);
  });

  it('delivers output and the exit that came before the socket attached', () => {
    const { exec, s } = session();
    exec.out('stdout', 'early');
    exec.finish({ exitCode: 0 });
    const socket = new FakeSocket();
    s.attach(socket);
    expect(socket.output()).toBe('early');
    expect(socket.sent.at(-1)).toEqual({ type: 'exit', exit: { code: 0 } });
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'Command finished' });
  });

  it('sends an error frame when the command ends without an exit status', () => {
    const { exec, s } = session();
    const socket = new FakeSocket();
    s.attach(socket);
    exec.finish({ error: 'the connection to the worker was lost' });
    expect(socket.sent.at(-1)).toEqual({ type: 'error', error: 'the connection to the worker was lost' });
    expect(socket.closedWith?.code).toBe(1000);
  });

  it('splits output into frames of at most 4096 bytes', () => {
    const { exec, s } = session();
    const socket = new FakeSocket();
    s.attach(socket);
    exec.out('stdout', Buffer.alloc(EXEC_CHUNK_BYTES * 2 + 10, 'x'));
    const sizes = socket.sent.map((f) => Buffer.from(String(f['data']), 'base64').length);
    expect(sizes).toEqual([4096, 4096, 10]);
  });

  it('kills the command when the socket goes away', () => {
    const { exec, s } = session();
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    s.detach(sub);
    expect(exec.killedWith).toBe('the client closed the exec WebSocket');
    expect(s.closed).toBe(true);
  });

  it('forwards stdin and its end for interactive commands, and refuses stdin after the end', () => {
    const { exec, s } = session({ interactive: true });
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    s.receive(sub, stdin('line\n'));
    s.receive(sub, JSON.stringify({ type: 'stdin' }));
    expect(Buffer.concat(exec.stdin).toString()).toBe('line\n');
    expect(exec.stdinEnded).toBe(true);
    s.receive(sub, stdin('more'));
    expect(socket.sent.at(-1)).toEqual({ type: 'error', error: expect.stringContaining('stdin is already closed') });
    expect(socket.closedWith?.code).toBe(CLOSE_POLICY_VIOLATION);
  });

  it('pauses reading the socket while the worker has no room for stdin', () => {
    const { exec, s } = session({ interactive: true });
    exec.stdinAccepts = false;
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    s.receive(sub, stdin('x'));
    expect(socket.paused).toBe(true);
    exec.emit('drain');
    expect(socket.paused).toBe(false);
  });

  it.each([
    ['not JSON', 'nope', /not valid JSON/],
    ['not an object', '[1]', /JSON object with a "type"/],
    ['no type', '{}', /no "type"/],
    ['an unknown type', '{"type":"shout"}', /unknown frame type "shout"/],
    ['stdin without interactive', stdin('x'), /need an interactive session/],
    ['resize without tty', '{"type":"resize","terminal":{"rows":40,"cols":120}}', /need a terminal/],
    ['history in a legacy session', '{"type":"history"}', /"history" frames need a reconnectable session/],
    ['ack in a legacy session', '{"type":"ack","watermark":1}', /"ack" frames need a reconnectable session/],
    ['detach in a legacy session', '{"type":"detach"}', /"detach" frames need a reconnectable session/],
    ['close in a legacy session', '{"type":"close"}', /"close" frames need a reconnectable session/],
  ])('answers %s with an error frame, closes with 1008 and kills the command', (_what, text, message) => {
    const { exec, s } = session();
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    s.receive(sub, text);
    expect(socket.sent).toEqual([{ type: 'error', error: expect.stringMatching(message) }]);
    expect(socket.closedWith).toEqual({ code: 1008, reason: expect.stringMatching(message) });
    expect(exec.killedWith).toBeDefined();
  });

  it('resizes tty sessions and checks the terminal size', () => {
    const { exec, s } = session({ interactive: true, tty: true });
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    s.receive(sub, JSON.stringify({ type: 'resize', terminal: { rows: 40, cols: 120 } }));
    expect(exec.resizes).toEqual([[40, 120]]);
    s.receive(sub, JSON.stringify({ type: 'resize', terminal: { rows: 0, cols: 120 } }));
    expect(socket.closedWith?.code).toBe(1008);
  });

  it('pauses the command while the socket is backed up, and resumes once it caught up', () => {
    const { exec, s } = session();
    const socket = new FakeSocket(false);
    s.attach(socket);
    for (let i = 0; i < 40; i++) {
      exec.out('stdout', 'x');
    }
    expect(exec.paused).toBe(true);
    expect(socket.closedWith).toBeUndefined();
    socket.flush();
    expect(exec.paused).toBe(false);
  });
});

describe('reconnectable exec sessions', () => {
  const reconnectable = (options: Partial<ExecSessionOptions> = {}) => session({ id: 's1', ...options });

  it('numbers output frames from 1 and keeps the socket open after the exit', () => {
    const { exec, s } = reconnectable();
    const socket = new FakeSocket();
    s.attach(socket);
    exec.out('stdout', 'first\n');
    exec.out('stderr', 'err\n');
    exec.finish({ exitCode: 0 });
    expect(socket.sent.map((f) => f['watermark'])).toEqual([1, 2, 3]);
    expect(socket.sent[2]).toEqual({ type: 'exit', exit: { code: 0 }, watermark: 3 });
    expect(socket.closedWith).toBeUndefined();
    expect(s.closed).toBe(false);
  });

  it('keeps the command running when a socket detaches, and replays history > watermark to the next one', () => {
    const { exec, s } = reconnectable();
    const first = new FakeSocket();
    const sub1 = s.attach(first)!;
    exec.out('stdout', 'first\n');
    s.receive(sub1, '{"type":"detach"}');
    expect(first.closedWith).toEqual({ code: 1000, reason: 'detached' });
    expect(exec.killedWith).toBeUndefined();
    exec.out('stdout', 'second\n');
    exec.finish({ exitCode: 0 });
    const second = new FakeSocket();
    const sub2 = s.attach(second)!;
    s.receive(sub2, JSON.stringify({ type: 'history', watermark: 1 }));
    expect(second.output()).toBe('second\n');
    expect(second.sent.slice(1)).toEqual([
      { type: 'exit', exit: { code: 0 }, watermark: 3 },
      { type: 'no_more_history', watermark: 3 },
    ]);
  });

  it('does not replay frames a subscriber already received live, nor twice', () => {
    const { exec, s } = reconnectable();
    exec.out('stdout', 'one');
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    // The first socket gets what came before it attached live.
    exec.out('stdout', 'two');
    const later = new FakeSocket();
    const sub2 = s.attach(later)!;
    exec.out('stdout', 'three');
    s.receive(sub2, '{"type":"history"}');
    s.receive(sub2, '{"type":"history"}');
    expect(later.sent.map((f) => [f['type'], f['watermark']])).toEqual([
      ['stdout', 3],
      ['stdout', 1],
      ['stdout', 2],
      ['no_more_history', 3],
      ['no_more_history', 3],
    ]);
    s.receive(sub, '{"type":"history"}');
    expect(socket.output()).toBe('onetwothree');
    expect(socket.sent.at(-1)).toEqual({ type: 'no_more_history', watermark: 3 });
  });

  it('answers history of an empty session with no_more_history without a watermark', () => {
    const { s } = reconnectable();
    const socket = new FakeSocket();
    s.receive(s.attach(socket)!, '{"type":"history"}');
    expect(socket.sent).toEqual([{ type: 'no_more_history' }]);
  });

  it('preserves the interleaving of stdout and stderr in the replay', () => {
    const { exec, s } = reconnectable();
    s.attach(new FakeSocket());
    for (const [stream, text] of [
      ['stdout', 'o1'],
      ['stderr', 'e1'],
      ['stdout', 'o2'],
      ['stderr', 'e2'],
    ] as const) {
      exec.out(stream, text);
    }
    const socket = new FakeSocket();
    s.receive(s.attach(socket)!, '{"type":"history","watermark":0}');
    expect(
      socket.sent.slice(0, 4).map((f) => `${String(f['type'])}:${Buffer.from(String(f['data']), 'base64').toString()}`),
    ).toEqual(['stdout:o1', 'stderr:e1', 'stdout:o2', 'stderr:e2']);
  });

  it('drops acknowledged frames from the replay buffer', () => {
    const { exec, s } = reconnectable();
    const socket = new FakeSocket();
    const sub = s.attach(socket)!;
    exec.out('stdout', 'a');
    exec.out('stdout', 'b');
    exec.out('stdout', 'c');
    s.receive(sub, '{"type":"ack","watermark":2}');
    expect(s.replayed).toMatchObject({ frames: 1, oldest: 3 });
    s.receive(sub, '{"type":"ack","watermark":-1}');
    expect(socket.sent.at(-1)).toEqual({ type: 'error', error: '"watermark" must be a non-negative integer' });
  });

  it('caps the replay buffer at 4 MiB, dropping the oldest frames', () => {
    const { exec, s } = reconnectable();
    s.attach(new FakeSocket());
    const frames = 1100; // 1100 × (4096 + 16) bytes > 4 MiB
    for (let i = 0; i < frames; i++) {
      exec.out('stdout', Buffer.alloc(EXEC_CHUNK_BYTES, 'x'));
    }
    const kept = Math.floor(REPLAY_BUFFER_BYTES / (EXEC_CHUNK_BYTES + 16));
    expect(s.replayed.frames).toBe(kept);
    expect(s.replayed.oldest).toBe(frames - kept + 1);
    expect(s.replayed.bytes).toBeLessThanOrEqual(REPLAY_BUFFER_BYTES);
  });

  it('replays more frames than a subscriber queue holds to a slow socket', () => {
    const { exec, s } = reconnectable();
    s.attach(new FakeSocket());
    for (let i = 0; i < 256; i++) {
      exec.out('stdout', `${i}\n`);
    }
    const slow = new FakeSocket(false);
    s.receive(s.attach(slow)!, '{"type":"history"}');
    expect(slow.sent).toHaveLength(257);
    expect(slow.closedWith).toBeUndefined();
  });

  it('drops a subscriber whose 128-frame queue is full with 1000 "Command finished"; the command runs on', () => {
    const { exec, s } = reconnectable();
    const slow = new FakeSocket(false);
    const fast = new FakeSocket();
    s.attach(slow);
    s.attach(fast);
    for (let i = 0; i < SUBSCRIBER_QUEUE_FRAMES + 1; i++) {
      exec.out('stdout', 'x');
    }
    expect(slow.sent).toHaveLength(SUBSCRIBER_QUEUE_FRAMES);
    expect(slow.closedWith).toEqual({ code: 1000, reason: 'Command finished' });
    expect(fast.sent).toHaveLength(SUBSCRIBER_QUEUE_FRAMES + 1);
    expect(exec.killedWith).toBeUndefined();
    expect(exec.paused).toBe(false);
    expect(s.subscriberCount).toBe(1);
  });

  it('stdin survives a reconnect', () => {
    const { exec, s } = reconnectable({ interactive: true });
    const first = s.attach(new FakeSocket())!;
    s.receive(first, stdin('one\n'));
    s.detach(first);
    const second = s.attach(new FakeSocket())!;
    s.receive(second, stdin('two\n'));
    expect(Buffer.concat(exec.stdin).toString()).toBe('one\ntwo\n');
  });

  it('close kills the command, closes every socket and reports the session closed', () => {
    const onClosed = jest.fn();
    const { exec, s } = reconnectable({ onClosed });
    const a = new FakeSocket();
    const b = new FakeSocket();
    const sub = s.attach(a)!;
    s.attach(b);
    s.receive(sub, '{"type":"close"}');
    expect(exec.killedWith).toBe('the exec session was closed');
    expect(a.closedWith).toEqual({ code: 1000, reason: 'exec session is closed' });
    expect(b.closedWith).toEqual({ code: 1000, reason: 'exec session is closed' });
    expect(onClosed).toHaveBeenCalledWith(s);
    const late = new FakeSocket();
    expect(s.attach(late)).toBeUndefined();
    expect(late.closedWith).toEqual({ code: 1000, reason: 'exec session is closed' });
  });

  it('is removed once the retention time after the exit has passed', () => {
    jest.useFakeTimers();
    try {
      const onClosed = jest.fn();
      const { exec, s } = reconnectable({ onClosed, retentionMs: 600_000 });
      const socket = new FakeSocket();
      s.attach(socket);
      jest.advanceTimersByTime(700_000);
      expect(onClosed).not.toHaveBeenCalled(); // no idle timeout while the command runs
      exec.finish({ exitCode: 0 });
      jest.advanceTimersByTime(599_999);
      expect(onClosed).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(onClosed).toHaveBeenCalledTimes(1);
      expect(socket.closedWith).toEqual({ code: 1000, reason: 'exec session is closed' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('with a detach timeout, closes the session once no socket was attached that long; attaching in time resets it', () => {
    jest.useFakeTimers();
    try {
      const onClosed = jest.fn();
      const { exec, s } = reconnectable({ onClosed, detachTimeoutMs: 5_000 });
      const first = new FakeSocket();
      const sub = s.attach(first)!;
      jest.advanceTimersByTime(60_000);
      expect(exec.killedWith).toBeUndefined(); // attached: no countdown
      s.detach(sub);
      jest.advanceTimersByTime(4_999);
      const second = new FakeSocket();
      const sub2 = s.attach(second)!;
      jest.advanceTimersByTime(60_000);
      expect(exec.killedWith).toBeUndefined(); // reattached in time
      s.detach(sub2);
      jest.advanceTimersByTime(5_000);
      expect(exec.killedWith).toBe('the exec session was closed');
      expect(onClosed).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('with a detach timeout, closes a session whose creating socket never attached', () => {
    jest.useFakeTimers();
    try {
      const { exec } = reconnectable({ detachTimeoutMs: 1_000 });
      jest.advanceTimersByTime(1_000);
      expect(exec.killedWith).toBe('the exec session was closed');
    } finally {
      jest.useRealTimers();
    }
  });

  it('a controller shutdown kills the command and closes sockets with 1001', () => {
    const { exec, s } = reconnectable();
    const socket = new FakeSocket();
    s.attach(socket);
    s.close(1001, 'the controller is shutting down');
    expect(exec.killedWith).toBe('the controller is shutting down');
    expect(socket.closedWith).toEqual({ code: 1001, reason: 'the controller is shutting down' });
  });
});
