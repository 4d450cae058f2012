import type { ExecTerminal } from '@grove/resources';
import type { ProcessStreams } from '../commands/io';

/** The size a PTY gets when there is no terminal to measure (the classic VT100 screen). */
export const DEFAULT_TERMINAL_SIZE: ExecTerminal = { rows: 24, cols: 80 };

/**
 * The local terminal as `grove exec -t` uses it, behind an interface so tests can resize it and watch raw mode
 * without a real TTY.
 */
export interface LocalTerminal {
  /** Standard input is a terminal that can be put in raw mode. */
  readonly canRaw: boolean;
  /** Raw mode on or off (keys, Ctrl-C included, reach the program as bytes; no local echo). */
  setRaw(raw: boolean): void;
  /** The window size, or DEFAULT_TERMINAL_SIZE when no output stream is a terminal. */
  size(): ExecTerminal;
  /** Calls `listener` when the window size changes (SIGWINCH); returns the unsubscribe function. */
  onResize(listener: () => void): () => void;
}

type MeasuredStream = NodeJS.EventEmitter & { isTTY?: boolean; rows?: number; columns?: number };

/**
 * The terminal behind the process streams: raw mode through stdin, the size from stdout (or stderr when stdout is
 * redirected). Node's TTY streams turn SIGWINCH into their 'resize' event.
 */
export function terminalOf(streams: ProcessStreams): LocalTerminal {
  const { stdin } = streams;
  const measured = [streams.stdout, streams.stderr as MeasuredStream].find(
    (s) => s.isTTY === true && (s.rows ?? 0) > 0 && (s.columns ?? 0) > 0,
  );
  return {
    canRaw: stdin.isTTY === true && typeof stdin.setRawMode === 'function',
    setRaw: (raw) => void stdin.setRawMode?.(raw),
    size: () =>
      measured?.rows && measured.columns ? { rows: measured.rows, cols: measured.columns } : DEFAULT_TERMINAL_SIZE,
    onResize: (listener) => {
      measured?.on('resize', listener);
      return () => void measured?.off('resize', listener);
    },
  };
}
