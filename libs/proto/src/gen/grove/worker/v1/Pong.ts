// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The answer to a Ping.
 */
export interface Pong {
  /**
   * The nonce of the Ping being answered.
   */
  'nonce'?: (number | string | Long);
}

/**
 * The answer to a Ping.
 */
export interface Pong__Output {
  /**
   * The nonce of the Ping being answered.
   */
  'nonce': (string);
}
