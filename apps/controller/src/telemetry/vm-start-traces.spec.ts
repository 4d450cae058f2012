import { ZERO_TIME, type Vm } from '@grove/resources';
import { formatTraceparent, vmStartTrace, type SpanEnd, type SpanStart, type Tracing } from '@grove/telemetry';
import type { ControllerTelemetry } from './controller-telemetry';
import { VmStartTraces } from './vm-start-traces';

interface Recorded {
  name: string;
  start: SpanStart;
  end?: SpanEnd;
}

/** A Tracing that records what it is asked to record. */
function recordingTracing(): { tracing: Tracing; spans: Recorded[] } {
  const spans: Recorded[] = [];
  const tracing: Tracing = {
    startSpan: (name, start = {}) => {
      const span: Recorded = { name, start };
      spans.push(span);
      return {
        traceparent: '',
        setAttributes: () => undefined,
        addEvent: () => undefined,
        end: (end = {}) => {
          span.end = end;
        },
      };
    },
  };
  return { tracing, spans };
}

const UID = '5c0ffee0-1234-4abc-8def-0123456789ab';
const T0 = Date.parse('2026-12-05T12:00:00Z');

function vm(overrides: Partial<Vm> = {}): Vm {
  return {
    uid: UID,
    name: 'ci-1',
    image: 'ghcr.io/acme/macos:15',
    worker: 'mac-1',
    restart_count: 0,
    createdAt: new Date(T0).toISOString(),
    restarted_at: ZERO_TIME,
    scheduled_at: new Date(T0 + 2000).toISOString(),
    started_at: ZERO_TIME,
    status: 'pending',
    status_message: '',
    ...overrides,
  } as Vm;
}

describe('VmStartTraces', () => {
  const root = vmStartTrace(UID, 0);

  function traces(): { traces: VmStartTraces; spans: Recorded[] } {
    const { tracing, spans } = recordingTracing();
    return { traces: new VmStartTraces({ tracing } as ControllerTelemetry), spans };
  }

  it('records the wait for a worker when the scheduler places the VM, under the root derived from its uid', () => {
    const { traces: t, spans } = traces();
    t.placed([vm()], new Date(T0 + 2000));
    expect(spans).toEqual([
      {
        name: 'vm.schedule',
        start: expect.objectContaining({ parent: formatTraceparent(root), startTime: T0 }),
        end: { endTime: T0 + 2000 },
      },
    ]);
  });

  it('records the root and the worker start once, when the VM first reports running', () => {
    const { traces: t, spans } = traces();
    const running = vm({ status: 'running', started_at: new Date(T0 + 9000).toISOString() });
    t.stateReported(vm(), running);
    // A later report of the running VM changes nothing.
    t.stateReported(running, running);
    expect(spans).toEqual([
      {
        name: 'vm.worker-start',
        start: expect.objectContaining({ parent: formatTraceparent(root), startTime: T0 + 2000 }),
        end: { endTime: T0 + 9000 },
      },
      { name: 'vm.start', start: expect.objectContaining({ ids: root, startTime: T0 }), end: { endTime: T0 + 9000 } },
    ]);
  });

  it('ends the start with the error of a VM that failed before it ran', () => {
    const { traces: t, spans } = traces();
    t.stateReported(vm(), vm({ status: 'failed', status_message: 'failed to clone the VM: no such image' }));
    expect(spans.map((s) => [s.name, s.end?.error])).toEqual([
      ['vm.worker-start', 'failed to clone the VM: no such image'],
      ['vm.start', 'failed to clone the VM: no such image'],
    ]);
  });

  it('gives a start after a restart its own trace, from the restart on', () => {
    const { traces: t, spans } = traces();
    const restartedAt = T0 + 60_000;
    t.placed(
      [vm({ restart_count: 2, restarted_at: new Date(restartedAt).toISOString() })],
      new Date(restartedAt + 500),
    );
    expect(spans[0].start).toMatchObject({
      parent: formatTraceparent(vmStartTrace(UID, 2)),
      startTime: restartedAt,
    });
  });
});
