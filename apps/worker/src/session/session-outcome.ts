import { status as GrpcStatus } from '@grpc/grpc-js';
import { ApiError, ControllerConnectionError } from '@grove/client';
import type { SessionOutcome } from './backoff';

/** The session stream failed with this gRPC status (kept so that the reconnect policy can tell why). */
export class SessionStreamError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
    this.name = 'SessionStreamError';
  }
}

/**
 * Socket errors that mean nothing is listening or the listener went away: the controller is down or restarting (or,
 * behind a TCP load balancer, no replica is up). Retrying those is cheap. DNS failures are not among them: they are
 * a configuration or resolver problem that retrying every second does not help.
 */
const NOTHING_ANSWERS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
]);

/** A gateway in front of the controller says that the controller itself did not answer. */
const GATEWAY_SAYS_DOWN = new Set([502, 504]);

/** How an attempt that never got a session failed, for the reconnect policy (`nextReconnect`). */
export function failureOutcome(err: unknown): SessionOutcome {
  if (err instanceof ControllerConnectionError) {
    return err.kind === 'unreachable' && err.code !== undefined && NOTHING_ANSWERS.has(err.code)
      ? { kind: 'unreachable' }
      : { kind: 'refused' };
  }
  if (err instanceof ApiError) {
    if (err.retryAfterSeconds !== undefined && (err.status === 503 || err.status === 429)) {
      return { kind: 'retryAfter', seconds: err.retryAfterSeconds };
    }
    return GATEWAY_SAYS_DOWN.has(err.status) ? { kind: 'unreachable' } : { kind: 'refused' };
  }
  if (err instanceof SessionStreamError) {
    // UNAVAILABLE before the Welcome: the gRPC listener refused the connection, or the controller is shutting down.
    return err.code === GrpcStatus.UNAVAILABLE ? { kind: 'unreachable' } : { kind: 'refused' };
  }
  return { kind: 'refused' };
}
