import type { Readable, Writable } from 'node:stream';
import type { Env } from '../config/config-file';

/** The process's byte streams, with the terminal details `grove ssh` needs when they are a TTY. */
export interface ProcessStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  stdout: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: Writable;
}

/** What a command handler may touch besides the network: output streams, environment and clock. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  env: Env;
  now(): Date;
  /**
   * Raw streams for commands that relay a remote program's bytes and terminal (`grove ssh`); tests pass their own.
   * Absent: the process's stdin, stdout and stderr.
   */
  streams?: ProcessStreams;
  /**
   * Calls `listener` on Ctrl-C (SIGINT) or SIGTERM until the returned function is called; for commands that run until
   * interrupted (`grove port-forward`). Absent: the process's signals.
   */
  onInterrupt?(listener: () => void): () => void;
}

export function processIo(): CommandIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    now: () => new Date(),
  };
}

/** The streams a command relays bytes through: the test's, or the process's own. */
export function streamsOf(io: CommandIo): ProcessStreams {
  return io.streams ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** Subscribes to Ctrl-C / SIGTERM (through `io` when it provides them); returns the unsubscribe function. */
export function onInterrupt(io: CommandIo, listener: () => void): () => void {
  if (io.onInterrupt) {
    return io.onInterrupt(listener);
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  signals.forEach((signal) => process.on(signal, listener));
  return () => signals.forEach((signal) => process.off(signal, listener));
}

/** Options every command inherits from the program. */
export interface GlobalOptions {
  context?: string;
}
