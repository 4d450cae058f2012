// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { ExecStarted as _grove_worker_v1_ExecStarted, ExecStarted__Output as _grove_worker_v1_ExecStarted__Output } from '../../../grove/worker/v1/ExecStarted';
import type { ExecExit as _grove_worker_v1_ExecExit, ExecExit__Output as _grove_worker_v1_ExecExit__Output } from '../../../grove/worker/v1/ExecExit';

/**
 * Output of a running command.
 */
export interface ExecOutput {
  /**
   * The command started; `via` is `agent` or `ssh`.
   */
  'started'?: (_grove_worker_v1_ExecStarted | null);
  'stdout'?: (Buffer | Uint8Array | string);
  'stderr'?: (Buffer | Uint8Array | string);
  /**
   * The command ended with this status (128 + n for signal n). Nothing follows.
   */
  'exit'?: (_grove_worker_v1_ExecExit | null);
  'kind'?: "started"|"stdout"|"stderr"|"exit";
}

/**
 * Output of a running command.
 */
export interface ExecOutput__Output {
  /**
   * The command started; `via` is `agent` or `ssh`.
   */
  'started'?: (_grove_worker_v1_ExecStarted__Output | null);
  'stdout'?: (Buffer);
  'stderr'?: (Buffer);
  /**
   * The command ended with this status (128 + n for signal n). Nothing follows.
   */
  'exit'?: (_grove_worker_v1_ExecExit__Output | null);
  'kind'?: "started"|"stdout"|"stderr"|"exit";
}
