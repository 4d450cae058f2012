import type { IncomingMessage } from 'node:http';
import { Injectable } from '@nestjs/common';
import type { SessionKind, Vm } from '@grove/resources';
import type { TraceSpan } from '@grove/telemetry';
import type { SessionBytes } from '../metrics/session-metrics';
import { ControllerTelemetry } from './controller-telemetry';

/** The `traceparent` header of a request, so that a client's trace continues into the session (issue 14). */
export function traceparentOf(request: IncomingMessage): string | undefined {
  const header = request.headers.traceparent;
  return typeof header === 'string' ? header : undefined;
}

/**
 * The controller's span of one port-forward or exec session: from the start of its setup (the VM found running, as
 * `grove_session_setup_seconds` counts it) until the session ends, with the bytes and the result. The worker's span of
 * the session is its child, through the `traceparent` of the tunnel's first frame.
 */
export class SessionTrace {
  constructor(private readonly span: TraceSpan) {}

  /** For the `traceparent` field of the `open` or `execStart` frame. */
  get traceparent(): string {
    return this.span.traceparent;
  }

  /** The client has its session (the WebSocket accepted, the command started). */
  established(attributes: Record<string, string | number | undefined> = {}): void {
    this.span.setAttributes(attributes);
    this.span.addEvent('established');
  }

  /** The request got an error answer instead of a session. */
  refused(err: unknown): void {
    this.span.setAttributes({ 'grove.session.result': 'refused' });
    this.span.end({ error: err instanceof Error ? err.message : String(err) });
  }

  /** The session ended: `ok` when either side closed it (or the command exited), `error` with why otherwise. */
  ended(
    result: 'ok' | 'error',
    bytes: SessionBytes,
    details: { error?: string; attributes?: Record<string, string | number | undefined> } = {},
  ): void {
    this.span.setAttributes({
      ...details.attributes,
      'grove.session.result': result,
      'grove.session.bytes_to_target': bytes.toTarget,
      'grove.session.bytes_from_target': bytes.fromTarget,
    });
    this.span.end(details.error !== undefined ? { error: details.error } : {});
  }
}

/** Starts the controller's session spans; every method returns undefined when traces are not exported. */
@Injectable()
export class SessionTraces {
  constructor(private readonly telemetry: ControllerTelemetry) {}

  /**
   * A session's span, `port-forward` or `exec`, continuing the client's trace when its request had a valid
   * `traceparent` header.
   */
  start(
    name: 'port-forward' | 'exec',
    kind: SessionKind,
    target: { vm: Vm | undefined; worker: string; traceparent: string | undefined },
    attributes: Record<string, string | number | undefined> = {},
  ): SessionTrace | undefined {
    const tracing = this.telemetry.tracing;
    if (!tracing) {
      return undefined;
    }
    return new SessionTrace(
      tracing.startSpan(name, {
        parent: target.traceparent,
        kind: 'server',
        attributes: {
          'grove.session.kind': kind,
          'grove.vm.name': target.vm?.name,
          'grove.vm.uid': target.vm?.uid,
          'grove.worker.name': target.worker,
          ...attributes,
        },
      }),
    );
  }
}
