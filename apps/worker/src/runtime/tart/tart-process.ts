import { spawn } from 'node:child_process';
import { RuntimeError } from '../vm-runtime';

/** What Orchard reports when the binary is missing (tart.md §3.1). */
export const TART_NOT_FOUND = 'tart command not found in PATH, make sure Tart is installed';

/** How a child process ended, with everything it wrote. */
export interface ProcessResult {
  /** Exit status; null when it was killed by a signal. */
  code: number | null;
  /** The signal that killed it, if any. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The caller's AbortSignal fired (the child, if one was started, got SIGKILL). */
  aborted: boolean;
  /** `timeoutMs` elapsed and the child got SIGKILL. */
  timedOut: boolean;
}

export interface ProcessOptions {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** SIGKILL the child after this long. */
  timeoutMs?: number;
}

/** After the child exited, how long to wait for a grandchild that inherited stdout/stderr to let go of them. */
const DRAIN_AFTER_EXIT_MS = 1_000;

/**
 * Runs `binary args` to completion the way Orchard runs tart (Go's `exec.CommandContext`, tart.md §3.1): stdin from
 * /dev/null, stdout and stderr buffered, nothing streamed; the AbortSignal and the timeout SIGKILL the child. Resolves
 * with how it ended, rejects only with the spawn error (`code` `ENOENT` for a missing binary). Nothing is spawned if
 * the signal has already fired.
 */
export function runProcess(binary: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) {
    return Promise.resolve({ code: null, signal: null, stdout: '', stderr: '', aborted: true, timedOut: false });
  }
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let aborted = false;
    let timedOut = false;
    let spawned = false;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

    const kill = (): void => {
      if (spawned && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    };
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            kill();
          }, timeoutMs);
    let drainTimer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      if (settled) {
        return false;
      }
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
      clearTimeout(drainTimer);
      return true;
    };

    child.once('spawn', () => {
      spawned = true;
      // The signal may have fired between spawn() and now, when there was nothing to kill yet.
      if (aborted) {
        kill();
      }
    });
    child.once('error', (err) => {
      // After a successful spawn an 'error' only reports a failed kill; 'close' still follows.
      if (!spawned && settle()) {
        reject(err);
      }
    });
    child.once('exit', () => {
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, DRAIN_AFTER_EXIT_MS);
    });
    child.once('close', (code, killedBy) => {
      if (settle()) {
        resolve({ code, signal: killedBy, stdout, stderr, aborted, timedOut });
      }
    });
  });
}

// Progress output without `CI` redraws lines with ANSI escapes (tart.md §1.1); they are no part of a message.
const ANSI_ESCAPE = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** The first line with something on it, trimmed, looking through `texts` in order; undefined if all are blank. */
export function firstNonEmptyLine(...texts: string[]): string | undefined {
  for (const text of texts) {
    for (const line of text.replace(ANSI_ESCAPE, '').split(/\r\n|\r|\n/)) {
      const trimmed = line.trim();
      if (trimmed !== '') {
        return trimmed;
      }
    }
  }
  return undefined;
}

/**
 * Orchard's error for a failed tart command: `tart command failed: "<first non-empty line of stderr, else of
 * stdout>"` (tart.md §3.1). It becomes the VM's status message. A silent failure names its exit status or signal.
 */
export function tartFailureMessage(result: Pick<ProcessResult, 'code' | 'signal' | 'stdout' | 'stderr'>): string {
  const line =
    firstNonEmptyLine(result.stderr, result.stdout) ??
    (result.code === null ? `signal: ${result.signal ?? 'unknown'}` : `exit status ${result.code}`);
  return `tart command failed: "${line}"`;
}

/** A spawn failure as a RuntimeError: a missing binary gets Orchard's wording. */
export function spawnFailure(err: unknown): RuntimeError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new RuntimeError(TART_NOT_FOUND);
  }
  return new RuntimeError(`tart command could not be started: ${(err as Error).message}`);
}

export interface TartCallOptions extends ProcessOptions {
  /** Exit statuses that count as success (Tart's 2 for "does not exist" / "is not running" where that is fine). */
  tolerate?: readonly number[];
}

/**
 * Runs one short-lived `tart` command and returns its output, or throws a {@link RuntimeError}: Orchard's messages for
 * a missing binary and a non-zero exit (with `exitCode`), and plain ones for cancellation and timeouts.
 */
export async function runTart(
  binary: string,
  args: readonly string[],
  options: TartCallOptions,
): Promise<ProcessResult> {
  let result: ProcessResult;
  try {
    result = await runProcess(binary, args, options);
  } catch (err) {
    throw spawnFailure(err);
  }
  if (result.aborted) {
    throw new RuntimeError(`tart ${args[0]} was cancelled`);
  }
  if (result.timedOut) {
    throw new RuntimeError(`tart ${args[0]} did not finish within ${(options.timeoutMs ?? 0) / 1000} s`);
  }
  if (result.code === 0 || (result.code !== null && options.tolerate?.includes(result.code))) {
    return result;
  }
  throw new RuntimeError(tartFailureMessage(result), result.code ?? undefined);
}
