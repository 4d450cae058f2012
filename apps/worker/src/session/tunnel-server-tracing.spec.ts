import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { TunnelFrame } from '@grove/proto';
import type { SpanEnd, SpanStart, TraceSpan, Tracing } from '@grove/telemetry';
import { waitFor } from '@grove/testing';
import { FakeTunnelCall } from '../test-support/fake-tunnel-call';
import { TunnelServer } from './tunnel-server';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

interface Recorded {
  name: string;
  start: SpanStart;
  attributes: Record<string, unknown>;
  end?: SpanEnd;
  span: TraceSpan;
}

/** A Tracing that records its spans. */
function recordingTracing(): { tracing: Tracing; spans: Recorded[] } {
  const spans: Recorded[] = [];
  const tracing: Tracing = {
    startSpan: (name, start = {}) => {
      const record = { name, start, attributes: { ...start.attributes } } as Recorded;
      record.span = {
        traceparent: `child-of-${name}`,
        setAttributes: (attributes) => Object.assign(record.attributes, attributes),
        addEvent: () => undefined,
        end: (end = {}) => {
          record.end ??= end;
        },
      };
      spans.push(record);
      return record.span;
    },
  };
  return { tracing, spans };
}

describe('TunnelServer spans', () => {
  it("records a session as a child of the controller's span, with its bytes and result", async () => {
    // The session is aborted at the end: the echo's socket is reset.
    const echo = createServer((socket) => socket.on('error', () => undefined).pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const { tracing, spans } = recordingTracing();
    const tunnels = new TunnelServer({
      connectVm: (_uid, port) =>
        new Promise((resolve, reject) => {
          const socket: Socket = connect(port, '127.0.0.1');
          socket.once('connect', () => resolve(socket)).once('error', reject);
        }),
      guestAgent: () => ({ target: 'unix:///nonexistent' }),
      minRttMs: () => 1,
      log: () => undefined,
      tracing,
    });
    const fake = new FakeTunnelCall();
    const port = (echo.address() as AddressInfo).port;
    const served = tunnels.serve(
      { kind: 'open', session: 's-1', vmUid: 'uid-1', port, traceparent: TRACEPARENT },
      fake.asCall,
    );
    await waitFor('opened', () => fake.written.some((frame) => frame.kind === 'opened'));
    fake.send({ kind: 'data', data: Buffer.from('hello') } satisfies TunnelFrame);
    await waitFor('the echo', () => fake.written.some((frame) => frame.kind === 'data'));
    tunnels.closeAll('test over');
    await served;
    echo.close();

    const [session, connecting] = spans;
    expect(session).toMatchObject({ name: 'worker.port-forward', start: { parent: TRACEPARENT, kind: 'server' } });
    expect(session.attributes).toMatchObject({
      'grove.session.id': 's-1',
      'grove.vm.uid': 'uid-1',
      'grove.port': port,
      'grove.session.bytes_to_target': 5,
      'grove.session.bytes_from_target': 5,
      'grove.session.result': 'error',
    });
    expect(session.end).toEqual({ error: 'test over' });
    expect(connecting).toMatchObject({ name: 'worker.connect', start: { parent: session.span }, end: {} });
  });

  it('ends both spans with the reason when the target cannot be reached', async () => {
    const { tracing, spans } = recordingTracing();
    const tunnels = new TunnelServer({
      connectVm: () => Promise.reject(new Error('connection refused by VM uid-1 on port 5900')),
      guestAgent: () => ({ target: 'unix:///nonexistent' }),
      minRttMs: () => 1,
      log: () => undefined,
      tracing,
    });
    const fake = new FakeTunnelCall();
    await tunnels.serve(
      { kind: 'open', session: 's-2', vmUid: 'uid-1', port: 5900, traceparent: TRACEPARENT },
      fake.asCall,
    );
    expect(spans.map((s) => [s.name, s.end])).toEqual([
      ['worker.port-forward', { error: 'connection refused by VM uid-1 on port 5900' }],
      ['worker.connect', { error: 'connection refused by VM uid-1 on port 5900' }],
    ]);
    expect(spans[0].attributes['grove.session.result']).toBe('refused');
  });
});
