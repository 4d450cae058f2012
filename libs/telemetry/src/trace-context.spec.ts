import { formatTraceparent, parseTraceparent, vmStartTrace } from './trace-context';

describe('trace context', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const SPAN = '00f067aa0ba902b7';

  it('reads and writes W3C traceparent values', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    // A later version may append fields; its first four are read.
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-03-more`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(`00-${TRACE}-${SPAN}-01`);
  });

  it.each([
    undefined,
    '',
    `00-${TRACE}-${SPAN}`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`,
  ])('ignores a traceparent that is not valid: %p', (text) => {
    expect(parseTraceparent(text)).toBeUndefined();
  });

  it("takes a VM's uid as the trace id of its first start, and gives each restart a trace of its own", () => {
    const uid = '5C0FFEE0-1234-4abc-8def-0123456789ab';
    const first = vmStartTrace(uid, 0);
    expect(first).toEqual({
      traceId: '5c0ffee012344abc8def0123456789ab',
      spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
      sampled: true,
    });
    // Both processes derive the same ids from the same VM.
    expect(vmStartTrace(uid, 0)).toEqual(first);
    const restarted = vmStartTrace(uid, 1);
    expect(restarted.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(restarted.traceId).not.toBe(first.traceId);
    expect(restarted.spanId).not.toBe(first.spanId);
    // A uid that is not a UUID still gets a valid trace id.
    expect(vmStartTrace('not-a-uuid', 0).traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
