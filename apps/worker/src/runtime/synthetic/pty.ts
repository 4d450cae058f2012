import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** A terminal size in character cells. */
export interface TerminalSize {
  rows: number;
  cols: number;
}

/** How to start one SSH request's process: a program and its arguments. */
export interface SpawnCommand {
  file: string;
  args: string[];
}

/**
 * The command line for an SSH `exec` (a command) or `shell` (none) request, with or without a PTY.
 *
 * Node cannot allocate a pseudo-terminal without a native module, so a PTY comes from `script(1)`: util-linux's
 * `script -qfec <cmd> /dev/null` on Linux, BSD's `script -q /dev/null <argv…>` on macOS. Its stdin is a pipe, so it
 * leaves the PTY at 0×0; `stty` sets the requested size first. Later resizes go through {@link resizePty}.
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

/**
 * Resizes a PTY from outside (`stty -F`, BSD `stty -f`): the kernel then sends SIGWINCH to the terminal's foreground
 * process group, exactly as for a local terminal window.
 */
export async function resizePty(
  device: string,
  size: TerminalSize,
  platform: NodeJS.Platform = process.platform,
): Promise<void> {
  const deviceFlag = platform === 'darwin' ? '-f' : '-F';
  await run('stty', [deviceFlag, device, 'rows', String(size.rows), 'cols', String(size.cols)]);
}
