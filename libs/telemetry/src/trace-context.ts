import { createHash } from 'node:crypto';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as Grove passes it: in the `traceparent` header of a
 * port-forward or exec request, and in the `traceparent` field of the `open` and `execStart` tunnel frames from the
 * controller to the worker (issue 14). Pure functions: no OpenTelemetry code is needed to read or write one.
 */

/** The ids a trace context carries: 32 and 16 lowercase hex digits, and whether the trace is sampled. */
export interface TraceIds {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * Reads a `traceparent` value; undefined when it is absent or not valid (a new trace starts then, as the
 * specification says). Versions above 00 are read by their first four fields, as the specification asks.
 */
export function parseTraceparent(text: string | undefined): TraceIds | undefined {
  const match = text === undefined ? null : TRACEPARENT.exec(text.trim());
  if (!match) {
    return undefined;
  }
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) {
    return undefined;
  }
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) {
    return undefined;
  }
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** Writes a version-00 `traceparent` value. */
export function formatTraceparent(ids: TraceIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${ids.sampled ? '01' : '00'}`;
}

/** The first `hexDigits` hex digits of SHA-256 of `text`, never all zeros (an invalid id). */
function hashedId(text: string, hexDigits: number): string {
  const id = createHash('sha256').update(text).digest('hex').slice(0, hexDigits);
  return /^0+$/.test(id) ? `${id.slice(0, -1)}1` : id;
}

/**
 * The trace of one start of a VM, which the controller and the worker record into without a protocol field
 * (docs/observability.md, "Traces"): a VM's uid is a UUID, 128 bits, exactly a trace id, so the first start's trace id
 * is the uid without dashes; a start after a restart by the VM's restart policy (`restartCount` n > 0) gets a trace of
 * its own, hashed from uid and n. The root span's id (the controller's `vm.start` span, which the worker's spans of the
 * start are children of) is hashed from the same inputs. Always sampled: a VM start is rare and worth its trace.
 */
export function vmStartTrace(uid: string, restartCount: number): TraceIds {
  const hex = uid.replace(/-/g, '').toLowerCase();
  const traceId =
    restartCount === 0 && /^[0-9a-f]{32}$/.test(hex) && hex !== ZERO_TRACE_ID
      ? hex
      : hashedId(`grove vm ${uid} start ${restartCount}`, 32);
  return { traceId, spanId: hashedId(`grove vm ${uid} start ${restartCount} root`, 16), sampled: true };
}
