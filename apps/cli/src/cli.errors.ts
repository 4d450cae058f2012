export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** `grove ssh` could not run the remote command or learn how it ended (ssh's own code for that). */
export const EXIT_SSH_FAILURE = 255;

/** A failure to report to the user as `Error: <message>`, with exit code 1 unless `exitCode` says otherwise. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, options?: ErrorOptions & { exitCode?: number }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = options?.exitCode ?? EXIT_FAILURE;
  }
}

/** The command line itself is wrong (bad flag value, missing argument): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT_USAGE });
    this.name = 'UsageError';
  }
}

/** The text to show for an error, without the `Error: ` prefix (an API error's `userMessage` when it has one). */
export function describeError(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'userMessage' in err && typeof err.userMessage === 'string') {
    return err.userMessage;
  }
  return err instanceof Error ? err.message : String(err);
}
