// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { ExecTerminalSize as _grove_worker_v1_ExecTerminalSize, ExecTerminalSize__Output as _grove_worker_v1_ExecTerminalSize__Output } from '../../../grove/worker/v1/ExecTerminalSize';

/**
 * Input of a running command.
 */
export interface ExecInput {
  /**
   * Bytes for stdin; empty means end of file.
   */
  'stdin'?: (Buffer | Uint8Array | string);
  /**
   * New terminal size (tty only).
   */
  'resize'?: (_grove_worker_v1_ExecTerminalSize | null);
  'kind'?: "stdin"|"resize";
}

/**
 * Input of a running command.
 */
export interface ExecInput__Output {
  /**
   * Bytes for stdin; empty means end of file.
   */
  'stdin'?: (Buffer);
  /**
   * New terminal size (tty only).
   */
  'resize'?: (_grove_worker_v1_ExecTerminalSize__Output | null);
  'kind'?: "stdin"|"resize";
}
