import { status as GrpcStatus } from '@grpc/grpc-js';
import { ApiError, ControllerConnectionError } from '@grove/client';
import { failureOutcome, SessionStreamError } from './session-outcome';

const URL = 'http://controller:6120';
const connection = (kind: ControllerConnectionError['kind'], code?: string) =>
  new ControllerConnectionError(kind, URL, 'cannot reach the controller', code);

describe('failureOutcome', () => {
  it.each([
    ['a refused connection', connection('unreachable', 'ECONNREFUSED')],
    ['a reset connection', connection('unreachable', 'ECONNRESET')],
    ['an unreachable host', connection('unreachable', 'EHOSTUNREACH')],
    ['a gateway with no controller behind it', new ApiError(502, 'Bad Gateway')],
    ['a gateway that timed out', new ApiError(504, 'Gateway Timeout')],
    ['a session refused by a gRPC listener that is down', new SessionStreamError(GrpcStatus.UNAVAILABLE, 'down')],
  ])('calls %s unreachable: retry soon', (_what, err) => {
    expect(failureOutcome(err)).toEqual({ kind: 'unreachable' });
  });

  it.each([
    ['an unknown host name', connection('unreachable', 'ENOTFOUND')],
    ['a certificate refused', connection('certificate', 'CERT_HAS_EXPIRED')],
    ['a controller that did not answer in time', connection('timeout', 'ETIMEDOUT')],
    ['an internal error', new ApiError(500, 'boom')],
    ['a 503 without Retry-After', new ApiError(503, 'Service Unavailable')],
    ['bad credentials', new ApiError(401, 'Unauthorized')],
    ['a session refused for its credentials', new SessionStreamError(GrpcStatus.UNAUTHENTICATED, 'who are you')],
    ['anything else', new Error('the controller runs no worker-session listener')],
  ])('calls %s refused: back off', (_what, err) => {
    expect(failureOutcome(err)).toEqual({ kind: 'refused' });
  });

  it('takes the wait a 503 or 429 asks for', () => {
    expect(failureOutcome(new ApiError(503, 'the database is unavailable', [], 2))).toEqual({
      kind: 'retryAfter',
      seconds: 2,
    });
    expect(failureOutcome(new ApiError(429, 'slow down', [], 5))).toEqual({ kind: 'retryAfter', seconds: 5 });
  });
});
