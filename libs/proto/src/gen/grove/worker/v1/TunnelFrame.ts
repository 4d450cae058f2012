// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { TunnelOpen as _grove_worker_v1_TunnelOpen, TunnelOpen__Output as _grove_worker_v1_TunnelOpen__Output } from '../../../grove/worker/v1/TunnelOpen';
import type { TunnelCloseWrite as _grove_worker_v1_TunnelCloseWrite, TunnelCloseWrite__Output as _grove_worker_v1_TunnelCloseWrite__Output } from '../../../grove/worker/v1/TunnelCloseWrite';
import type { TunnelError as _grove_worker_v1_TunnelError, TunnelError__Output as _grove_worker_v1_TunnelError__Output } from '../../../grove/worker/v1/TunnelError';
import type { TunnelOpened as _grove_worker_v1_TunnelOpened, TunnelOpened__Output as _grove_worker_v1_TunnelOpened__Output } from '../../../grove/worker/v1/TunnelOpened';

/**
 * One frame of a Tunnel stream. A used tunnel carries one byte stream each way with its own flow control, so a user
 * who stops reading holds up only their own session: a side may have at most `window` unacknowledged data bytes in
 * flight (256 KiB at first), and grants more with `window` frames as it hands bytes on. Either side ends its
 * direction with `close_write` (TCP half-close) or the whole session with `error`.
 */
export interface TunnelFrame {
  /**
   * Controller → worker, first frame: what to connect to.
   */
  'open'?: (_grove_worker_v1_TunnelOpen | null);
  /**
   * Bytes of the session, at most 64 KiB per frame.
   */
  'data'?: (Buffer | Uint8Array | string);
  /**
   * Grants the peer this many more bytes of data.
   */
  'window'?: (number);
  /**
   * The sender will send no more data (its source reached end of file).
   */
  'close_write'?: (_grove_worker_v1_TunnelCloseWrite | null);
  /**
   * The session failed; the text says why. Nothing follows.
   */
  'error'?: (_grove_worker_v1_TunnelError | null);
  /**
   * Worker → controller: the connection to the target is up.
   */
  'opened'?: (_grove_worker_v1_TunnelOpened | null);
  'kind'?: "open"|"data"|"window"|"close_write"|"error"|"opened";
}

/**
 * One frame of a Tunnel stream. A used tunnel carries one byte stream each way with its own flow control, so a user
 * who stops reading holds up only their own session: a side may have at most `window` unacknowledged data bytes in
 * flight (256 KiB at first), and grants more with `window` frames as it hands bytes on. Either side ends its
 * direction with `close_write` (TCP half-close) or the whole session with `error`.
 */
export interface TunnelFrame__Output {
  /**
   * Controller → worker, first frame: what to connect to.
   */
  'open'?: (_grove_worker_v1_TunnelOpen__Output | null);
  /**
   * Bytes of the session, at most 64 KiB per frame.
   */
  'data'?: (Buffer);
  /**
   * Grants the peer this many more bytes of data.
   */
  'window'?: (number);
  /**
   * The sender will send no more data (its source reached end of file).
   */
  'close_write'?: (_grove_worker_v1_TunnelCloseWrite__Output | null);
  /**
   * The session failed; the text says why. Nothing follows.
   */
  'error'?: (_grove_worker_v1_TunnelError__Output | null);
  /**
   * Worker → controller: the connection to the target is up.
   */
  'opened'?: (_grove_worker_v1_TunnelOpened__Output | null);
  'kind'?: "open"|"data"|"window"|"close_write"|"error"|"opened";
}
