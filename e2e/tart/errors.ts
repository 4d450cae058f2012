/**
 * The three error shapes of Tart (tart.md §1.1). main.ts maps each to its output and exit code in one place.
 */

/** Tart's own RuntimeError: the bare message on stderr, exit 2 for the "does not exist / (not|already) running" trio. */
export class TartRuntimeError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** An ArgumentParser usage or ValidationError: `Error: <message>`, the command's usage, exit 64. */
export class UsageError extends Error {}

/** Any other error (registry, NSError, …): `Error: <message>` on stderr, exit 1. */
export class ForeignError extends Error {}

export function vmDoesNotExist(name: string): TartRuntimeError {
  return new TartRuntimeError(`the specified VM "${name}" does not exist`, 2);
}

export function vmNotRunning(name: string): TartRuntimeError {
  return new TartRuntimeError(`VM "${name}" is not running`, 2);
}

export function vmAlreadyRunning(name: string): TartRuntimeError {
  return new TartRuntimeError(`VM "${name}" is already running!`, 2);
}
