import { PassThrough, Writable } from 'node:stream';
import type { CommandIo } from '../commands/io';
import { runCli } from '../program';
import type { CliResult } from './fake-controller';

/** A stand-in for the user's terminal: stdin that can go raw, an output window that can be resized. */
export interface FakeTerminal {
  /** Every setRawMode call, in order. */
  rawModes: boolean[];
  /** Changes the window size and emits 'resize', as Node's TTY stream does on SIGWINCH. */
  resize(rows: number, cols: number): void;
}

/** A CLI run in progress with a fake terminal (see {@link startTerminalCli}). */
export interface TerminalCliRun {
  result: Promise<CliResult>;
  output(): { stdout: string; stderr: string };
  /** Everything written to stdout, as bytes. */
  stdoutBytes(): Buffer;
  /** Bytes typed (or piped) into stdin. */
  type(text: string | Buffer): void;
  /** Ends stdin (Ctrl-D on a pipe). */
  endInput(): void;
  /** What Ctrl-C (SIGINT) or SIGTERM does to the real process. */
  interrupt(): void;
  terminal: FakeTerminal;
  /** Resolves when stdout + stderr match `pattern`, polling every 5 ms for up to `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export interface TerminalCliOptions {
  /** Stdin and stdout are terminals of this size; absent: plain pipes. */
  tty?: { rows: number; cols: number };
  /** Output stream that takes this many bytes at most before `write()` returns false (default: never full). */
  highWaterMark?: number;
}

/**
 * Starts the CLI in-process with captured output, a writable stdin, a Ctrl-C of its own and, optionally, a fake
 * terminal: what `grove exec -i`/`-t` need and `startCli` does not offer.
 */
export function startTerminalCli(
  env: Record<string, string | undefined>,
  args: string[],
  options: TerminalCliOptions = {},
): TerminalCliRun {
  let stdout = '';
  let stderr = '';
  const stdoutChunks: Buffer[] = [];
  const interrupts = new Set<() => void>();
  const rawModes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), options.tty ? { isTTY: true } : {}, {
    setRawMode: options.tty
      ? (mode: boolean) => {
          rawModes.push(mode);
          return stdin;
        }
      : undefined,
  });
  const out = Object.assign(
    new Writable({
      highWaterMark: options.highWaterMark,
      write(chunk: Buffer, _encoding, callback) {
        stdout += chunk.toString('utf8');
        stdoutChunks.push(chunk);
        callback();
      },
    }),
    options.tty ? { isTTY: true, rows: options.tty.rows, columns: options.tty.cols } : {},
  );
  const err = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stderr += chunk.toString('utf8');
      callback();
    },
  });
  const io: CommandIo = {
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    env,
    now: () => new Date('2026-01-01T12:00:00Z'),
    streams: { stdin, stdout: out, stderr: err },
    onInterrupt: (listener) => {
      interrupts.add(listener);
      return () => interrupts.delete(listener);
    },
  };
  const result = runCli(['node', 'grove', ...args], io).then((code) => {
    stdin.destroy();
    return { code, stdout, stderr };
  });
  return {
    result,
    output: () => ({ stdout, stderr }),
    stdoutBytes: () => Buffer.concat(stdoutChunks),
    type: (text) => stdin.write(text),
    endInput: () => stdin.end(),
    interrupt: () => [...interrupts].forEach((listener) => listener()),
    terminal: {
      rawModes,
      resize: (rows, cols) => {
        Object.assign(out, { rows, columns: cols });
        out.emit('resize');
      },
    },
    waitForOutput: async (pattern, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stdout + stderr)) {
        if (Date.now() > deadline) {
          throw new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${stdout}\n${stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}
