// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * A liveness probe.
 */
export interface Ping {
  /**
   * Echoed in the Pong, to measure round trips.
   */
  'nonce'?: (number | string | Long);
}

/**
 * A liveness probe.
 */
export interface Ping__Output {
  /**
   * Echoed in the Pong, to measure round trips.
   */
  'nonce': (string);
}
