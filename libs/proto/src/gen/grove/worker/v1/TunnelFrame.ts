// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { TunnelOpen as _grove_worker_v1_TunnelOpen, TunnelOpen__Output as _grove_worker_v1_TunnelOpen__Output } from '../../../grove/worker/v1/TunnelOpen';
import type { TunnelCloseWrite as _grove_worker_v1_TunnelCloseWrite, TunnelCloseWrite__Output as _grove_worker_v1_TunnelCloseWrite__Output } from '../../../grove/worker/v1/TunnelCloseWrite';
import type { TunnelError as _grove_worker_v1_TunnelError, TunnelError__Output as _grove_worker_v1_TunnelError__Output } from '../../../grove/worker/v1/TunnelError';
import type { TunnelOpened as _grove_worker_v1_TunnelOpened, TunnelOpened__Output as _grove_worker_v1_TunnelOpened__Output } from '../../../grove/worker/v1/TunnelOpened';
import type { ExecStart as _grove_worker_v1_ExecStart, ExecStart__Output as _grove_worker_v1_ExecStart__Output } from '../../../grove/worker/v1/ExecStart';
import type { ExecInput as _grove_worker_v1_ExecInput, ExecInput__Output as _grove_worker_v1_ExecInput__Output } from '../../../grove/worker/v1/ExecInput';
import type { ExecOutput as _grove_worker_v1_ExecOutput, ExecOutput__Output as _grove_worker_v1_ExecOutput__Output } from '../../../grove/worker/v1/ExecOutput';

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
  /**
   * Controller → worker, first frame instead of `open`: run a command in a VM (guest agent, else SSH).
   */
  'exec_start'?: (_grove_worker_v1_ExecStart | null);
  /**
   * Controller → worker: input of the command.
   */
  'exec_input'?: (_grove_worker_v1_ExecInput | null);
  /**
   * Worker → controller: what the command did. A session ends with `exit` or with an `error` frame.
   */
  'exec_output'?: (_grove_worker_v1_ExecOutput | null);
  'kind'?: "open"|"data"|"window"|"close_write"|"error"|"opened"|"exec_start"|"exec_input"|"exec_output";
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
  /**
   * Controller → worker, first frame instead of `open`: run a command in a VM (guest agent, else SSH).
   */
  'exec_start'?: (_grove_worker_v1_ExecStart__Output | null);
  /**
   * Controller → worker: input of the command.
   */
  'exec_input'?: (_grove_worker_v1_ExecInput__Output | null);
  /**
   * Worker → controller: what the command did. A session ends with `exit` or with an `error` frame.
   */
  'exec_output'?: (_grove_worker_v1_ExecOutput__Output | null);
  'kind'?: "open"|"data"|"window"|"close_write"|"error"|"opened"|"exec_start"|"exec_input"|"exec_output";
}
