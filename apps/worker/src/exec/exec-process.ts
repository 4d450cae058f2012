import type { TunnelFrame } from '@grove/proto';

/** An `execStart` frame: the first frame of an exec session's tunnel. */
export type ExecStartFrame = Extract<TunnelFrame, { kind: 'execStart' }>;

/** How a command ended: its exit status, or why it could not finish. */
export type ExecEnd = { code: number } | { error: string };

/**
 * Where a running command's output goes (the exec session's tunnel). An executor calls `started` once, before any
 * output, then `output` any number of times, then `end` exactly once; none of them after a failed start.
 */
export interface ExecSink {
  started(via: 'agent' | 'ssh'): void;
  /** False when the tunnel is full: stop reading output until `onDrain` calls back. */
  output(stream: 'stdout' | 'stderr', data: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(end: ExecEnd): void;
}

/** A command started in a VM, as the exec session drives it. */
export interface ExecHandle {
  /** Bytes for the command's stdin; false means wait for `onInputDrain` before sending more. */
  input(data: Buffer): boolean;
  onInputDrain(resume: () => void): void;
  /** End of file on stdin. */
  endInput(): void;
  resize(rows: number, cols: number): void;
  /** Kills the command; the sink's `end` follows (the session ignores it). */
  kill(): void;
}

/** What the executors need of an `execStart` frame. */
export type ExecRequest = Pick<
  ExecStartFrame,
  'session' | 'vmUid' | 'argv' | 'interactive' | 'tty' | 'rows' | 'cols' | 'env' | 'workdir' | 'username' | 'password'
>;

/** The command could not be started, and another way of starting it would fail the same (the agent said why). */
export class ExecStartError extends Error {}

/** The guest agent does not answer: try SSH instead. */
export class AgentUnavailableError extends Error {}

/** The terminal size of a tty command that named none. */
export function terminalSize(request: Pick<ExecRequest, 'rows' | 'cols'>): { rows: number; cols: number } {
  return request.rows > 0 && request.cols > 0 ? { rows: request.rows, cols: request.cols } : { rows: 24, cols: 80 };
}
