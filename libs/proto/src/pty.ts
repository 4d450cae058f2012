import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Pseudo-terminals without a native module, shared by the synthetic VMs' SSH server and the host guest agent.
 *
 * Node cannot allocate a PTY by itself, so one comes from `script(1)`: util-linux's `script -qfec <cmd> /dev/null` on
 * Linux, BSD's `script -q /dev/null <argv…>` on macOS. Its stdin is a pipe, so it leaves the PTY at 0×0; `stty` sets
 * the requested size inside the PTY before the command starts, and later resizes go through {@link resizePty} from
 * outside, which makes the kernel send SIGWINCH to the terminal's foreground process group.
 */

/** A terminal size in character cells. */
export interface TerminalSize {
  rows: number;
  cols: number;
}

/** How to start a process: a program and its arguments. */
export interface SpawnCommand {
  file: string;
  args: string[];
}

/**
 * The command line for a shell command (`/bin/sh -c`), or an interactive shell when `command` is undefined, with or
 * without a PTY of the given size.
 */
export function shellCommand(
  command: string | undefined,
  pty: TerminalSize | undefined,
  platform: NodeJS.Platform = process.platform,
): SpawnCommand {
  if (!pty) {
    return { file: '/bin/sh', args: command === undefined ? [] : ['-c', command] };
  }
  const inner = command === undefined ? 'exec /bin/sh -i' : command;
  const sized = `stty rows ${pty.rows} cols ${pty.cols} 2>/dev/null; ${inner}`;
  return platform === 'darwin'
    ? { file: 'script', args: ['-q', '/dev/null', '/bin/sh', '-c', sized] }
    : { file: 'script', args: ['-qfec', `/bin/sh -c ${shellQuote(sized)}`, '/dev/null'] };
}

/** Quotes a string for /bin/sh as one word. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

const run = promisify(execFile);

/**
 * The PTY that `script` (process `scriptPid`) gave its command, e.g. `/dev/pts/3`, or undefined when its child is
 * not (yet, or any longer) there. Found through `ps`, which prints the child's controlling terminal on Linux and macOS.
 */
export async function ptyOfScript(scriptPid: number): Promise<string | undefined> {
  const { stdout } = await run('ps', ['-A', '-o', 'ppid=,tty=']);
  for (const line of stdout.split('\n')) {
    const [ppid, tty] = line.trim().split(/\s+/);
    if (Number(ppid) === scriptPid && tty !== undefined && tty !== '?' && tty !== '??') {
      return `/dev/${tty}`;
    }
  }
  return undefined;
}

/** Resizes a PTY from outside (`stty -F`, BSD `stty -f`); the kernel then sends SIGWINCH to its foreground group. */
export async function resizePty(
  device: string,
  size: TerminalSize,
  platform: NodeJS.Platform = process.platform,
): Promise<void> {
  const deviceFlag = platform === 'darwin' ? '-f' : '-F';
  await run('stty', [deviceFlag, device, 'rows', String(size.rows), 'cols', String(size.cols)]);
}

/** How long {@link PtyResizer} waits for `script` to have started its command on the PTY. */
const PTY_LOOKUP_ATTEMPTS = 40;
const PTY_LOOKUP_INTERVAL_MS = 25;

/**
 * Resizes the PTY of one `script` process: finds the PTY on first use, applies only the latest size asked for, one
 * resize at a time. `idle` resolves once every resize asked for so far is applied (or given up: a resize is best
 * effort, the command may have ended or closed its terminal meanwhile), so input sent after a resize can wait for it.
 */
export class PtyResizer {
  private device: string | undefined;
  private latest: TerminalSize | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly scriptPid: () => number | undefined,
    private readonly done: () => boolean,
  ) {}

  /** Whether a resize is still being applied. */
  get busy(): boolean {
    return this.pending > 0;
  }

  /** Resolves when the resizes asked for so far are done. */
  get idle(): Promise<void> {
    return this.chain;
  }

  resize(size: TerminalSize): void {
    this.latest = size;
    this.pending++;
    this.chain = this.chain
      .then(() => this.apply(size))
      .catch(() => undefined)
      .finally(() => this.pending--);
  }

  private async apply(size: TerminalSize): Promise<void> {
    for (let attempt = 0; this.device === undefined && attempt < PTY_LOOKUP_ATTEMPTS; attempt++) {
      const pid = this.scriptPid();
      if (this.done() || pid === undefined) {
        return;
      }
      this.device = await ptyOfScript(pid);
      if (this.device === undefined) {
        await new Promise((resolve) => setTimeout(resolve, PTY_LOOKUP_INTERVAL_MS));
      }
    }
    if (this.device !== undefined && !this.done() && this.latest === size) {
      await resizePty(this.device, size);
    }
  }
}
