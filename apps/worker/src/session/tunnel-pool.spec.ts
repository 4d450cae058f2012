import { Duplex } from 'node:stream';
import type { TunnelFrame } from '@grove/proto';
import { TunnelPool, type TunnelClientCall } from './tunnel-pool';

/** An idle Tunnel call as grpc-js would give it: frames in, frames out, `cancel()` errors with CANCELLED. */
class FakeCall extends Duplex {
  cancelled = false;
  readonly written: TunnelFrame[] = [];

  constructor() {
    super({ objectMode: true, read: () => undefined });
  }

  override _write(frame: TunnelFrame, _encoding: BufferEncoding, done: () => void): void {
    this.written.push(frame);
    done();
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('error', Object.assign(new Error('Cancelled'), { code: 1 }));
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
/** Two event-loop turns: a used tunnel is handed over in one, its replacement opened in the next. */
const tick = async () => {
  await turn();
  await turn();
};

function pool(idleTarget: number) {
  const calls: FakeCall[] = [];
  const used: { open: TunnelFrame; call: TunnelClientCall }[] = [];
  const lines: string[] = [];
  const tunnels = new TunnelPool({
    open: () => {
      const call = new FakeCall();
      calls.push(call);
      return call as unknown as TunnelClientCall;
    },
    idleTarget,
    onOpen: (open, call) => used.push({ open, call }),
    log: (line) => lines.push(line),
  });
  return { tunnels, calls, used, lines };
}

describe('TunnelPool', () => {
  it('keeps the idle target, hands over a used tunnel and replaces it at once', async () => {
    const { tunnels, calls, used } = pool(3);
    expect(calls).toHaveLength(3);
    calls[1].push({ kind: 'open', session: 's', vmUid: 'u', port: 22 });
    await tick();
    expect(used).toEqual([{ open: { kind: 'open', session: 's', vmUid: 'u', port: 22 }, call: calls[1] }]);
    expect(calls).toHaveLength(4);
    expect(tunnels.idleCount).toBe(3);
    tunnels.stop();
  });

  it("hands the session over before it opens the replacement (the session is on the user's critical path)", async () => {
    const calls: FakeCall[] = [];
    const streamsAtHandover: number[] = [];
    const tunnels = new TunnelPool({
      open: () => {
        const call = new FakeCall();
        calls.push(call);
        return call as unknown as TunnelClientCall;
      },
      idleTarget: 1,
      onOpen: () => streamsAtHandover.push(calls.length),
      log: () => undefined,
    });
    calls[0].push({ kind: 'open', session: 's', vmUid: '', port: 5900 });
    await tick();
    expect(streamsAtHandover).toEqual([1]);
    expect(calls).toHaveLength(2);
    tunnels.stop();
  });

  it('opens extra tunnels on request and cancels only the idle ones when stopped', async () => {
    const { tunnels, calls } = pool(2);
    tunnels.openMore(3);
    expect(tunnels.idleCount).toBe(5);
    calls[0].push({ kind: 'open', session: 's', vmUid: '', port: 5900 });
    await tick();
    tunnels.stop();
    // Four idle ones were left, above the target of two: no replacement was needed.
    expect(calls.map((c) => c.cancelled)).toEqual([false, true, true, true, true]);
    expect(tunnels.idleCount).toBe(0);
  });

  it('hands over a tunnel that starts an exec session, and replaces it', async () => {
    const { tunnels, calls, used } = pool(1);
    const start = {
      kind: 'execStart' as const,
      session: 's',
      vmUid: 'u',
      argv: ['true'],
      interactive: false,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: 'admin',
      password: 'admin',
    };
    calls[0].push(start);
    await tick();
    expect(used).toEqual([{ open: start, call: calls[0] }]);
    expect(calls).toHaveLength(2);
    tunnels.stop();
  });

  it('refuses a tunnel that does not start with an open or execStart frame', async () => {
    const { tunnels, calls, used } = pool(1);
    calls[0].push({ kind: 'data', data: Buffer.from('x') });
    await tick();
    expect(used).toHaveLength(0);
    expect(calls[0].written).toEqual([
      { kind: 'error', message: 'a tunnel must start with an open or execStart frame, not data' },
    ]);
    tunnels.stop();
  });

  it('replaces a tunnel that failed before use after a back-off, and logs why', () => {
    jest.useFakeTimers();
    try {
      const { tunnels, calls, lines } = pool(1);
      calls[0].emit('error', Object.assign(new Error('unavailable'), { code: 14, details: 'connection reset' }));
      expect(tunnels.idleCount).toBe(0);
      expect(lines).toEqual(['idle tunnel failed: connection reset']);
      jest.advanceTimersByTime(1000);
      expect(calls).toHaveLength(2);
      expect(tunnels.idleCount).toBe(1);
      tunnels.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
