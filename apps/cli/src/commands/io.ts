import type { Env } from '../config/config-file';

/** What a command handler may touch besides the network: output streams, environment and clock. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  env: Env;
  now(): Date;
}

export function processIo(): CommandIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    now: () => new Date(),
  };
}

/** Options every command inherits from the program. */
export interface GlobalOptions {
  context?: string;
}
