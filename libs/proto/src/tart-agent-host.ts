import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
import { PtyResizer, shellCommand, shellQuote, type TerminalSize } from './pty';
import type { TartAgentHandlers, TartExecCommand, TartExecRequest, TartExecResponseInput } from './tart-agent';

/** Largest stdout/stderr chunk the agent sends (tart.md §4.3). */
const CHUNK = 4096;

export interface HostAgentOptions {
  /** Working directory of commands that set no workdir. */
  cwd: string;
  /** The guest's address, or undefined while it has none. */
  ip: () => string | undefined;
  /** Delay before answering ResolveIP (a slow agent), in milliseconds. */
  resolveDelayMs?: number;
}

/** The Agent service, plus a way to kill every command still running when the "guest" goes away. */
export interface HostAgent {
  handlers: TartAgentHandlers;
  killAll(): void;
}

/** Terminal size of a tty command that asked for none (a PTY from `script` would otherwise be 0×0). */
const DEFAULT_TERMINAL: TerminalSize = { rows: 24, cols: 80 };

/** The end-of-file character a PTY's line discipline turns into EOF for the reader (^D). */
const PTY_EOF = Buffer.from([4]);

/** One running command of an Exec call. */
interface RunningCommand {
  child: ChildProcess;
  /** Set for tty commands. */
  pty?: PtyResizer;
  done: boolean;
}

type ExecCall = ServerDuplexStream<TartExecRequest, TartExecResponseInput>;

/**
 * The Tart Guest Agent's service (tart.md §4.3) with commands run on the host: the guest of Grove's synthetic VMs and
 * of the stand-in `tart`. Semantics of agent v0.9: the first message must be a command, which runs without a shell,
 * with `env` merged and `workdir` applied; stdin only for interactive commands (an empty chunk is EOF, ^D on a PTY);
 * 4 KiB chunks; exactly one `exit` (−1 for a command killed by a signal); an UNKNOWN error when the executable cannot
 * start. Output follows the call's flow control: the command's pipes are not read while the client does not read, so
 * the command blocks like a real guest's.
 *
 * `tty` gets a real pseudo-terminal from `script(1)` (see ./pty.ts): the command sees isatty() and the terminal size
 * asked for (24×80 when none), `terminal_resize` reaches it with SIGWINCH, and stdout and stderr arrive merged as
 * standard_output. Input sent after a resize waits until the resize is applied, so a command reads the new size.
 * Each command runs in its own process group, which is killed when the call is cancelled.
 */
export function hostAgent(options: HostAgentOptions): HostAgent {
  const commands = new Set<RunningCommand>();

  const startCommand = (command: TartExecCommand, call: ExecCall, onFinish: () => void): RunningCommand | undefined => {
    if (command.detach && (command.interactive || command.tty)) {
      throw new Error('detach cannot be combined with interactive or tty');
    }
    const env = { ...process.env, ...command.env };
    const cwd = command.workdir !== '' ? resolve(options.cwd, command.workdir) : options.cwd;
    const executable = lookPath(command.name, env.PATH ?? '', cwd);
    if (command.detach) {
      const detached = spawn(executable, command.args, { cwd, env, stdio: 'ignore', detached: true });
      detached.on('error', () => undefined);
      detached.unref();
      onFinish();
      call.write({ exit: { code: 0 } });
      call.end();
      return undefined;
    }
    const size =
      command.terminal_size && command.terminal_size.rows > 0 && command.terminal_size.cols > 0
        ? command.terminal_size
        : DEFAULT_TERMINAL;
    const { file, args } = command.tty
      ? shellCommand(`exec ${[executable, ...command.args].map(shellQuote).join(' ')}`, size)
      : { file: executable, args: command.args };
    const child = spawn(file, args, {
      cwd,
      env: command.tty ? { TERM: 'xterm-256color', ...env } : env,
      // A PTY's stdin stays open for the whole command (closing it would hang up the terminal).
      stdio: [command.interactive || command.tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      // Its own process group, so that everything it started goes with it when the call is cancelled.
      detached: true,
    });
    const running: RunningCommand = { child, done: false };
    if (command.tty) {
      running.pty = new PtyResizer(
        () => child.pid,
        () => running.done,
      );
    }
    commands.add(running);
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    const outputs = [child.stdout, child.stderr].filter((stream) => stream !== null);
    const forward = (kind: 'standard_output' | 'standard_error') => (data: Buffer) => {
      let ok = true;
      for (let offset = 0; offset < data.length; offset += CHUNK) {
        const chunk = { data: data.subarray(offset, offset + CHUNK) };
        ok = call.write(kind === 'standard_output' ? { standard_output: chunk } : { standard_error: chunk });
      }
      if (!ok) {
        outputs.forEach((stream) => stream.pause());
        call.once('drain', () => outputs.forEach((stream) => stream.resume()));
      }
    };
    child.stdout?.on('data', forward('standard_output'));
    child.stderr?.on('data', forward(command.tty ? 'standard_output' : 'standard_error'));
    const finish = () => {
      running.done = true;
      commands.delete(running);
      onFinish();
    };
    child.on('error', (err) => {
      if (running.done) {
        return;
      }
      finish();
      call.emit('error', { code: status.UNKNOWN, details: `exec: ${err.message}` });
    });
    // 'close' comes after the process exited and both pipes reached EOF: then exactly one exit message.
    child.on('close', (code) => {
      if (running.done) {
        return;
      }
      finish();
      call.write({ exit: { code: code ?? -1 } });
      call.end();
    });
    return running;
  };

  const exec = (call: ExecCall): void => {
    let running: RunningCommand | undefined;
    let started = false;
    let finished = false;
    let interactive = false;
    // Input and resizes of a tty command, in order: input after a resize waits until the terminal has its new size.
    let queue: Promise<void> = Promise.resolve();
    const fail = (code: status, details: string): void => {
      if (!finished) {
        finished = true;
        call.emit('error', { code, details });
      }
    };
    const input = (data: Buffer): void => {
      const stdin = running?.child.stdin;
      if (!interactive || !stdin || running?.done) {
        return;
      }
      const ok = data.length === 0 ? (running?.pty ? stdin.write(PTY_EOF) : (stdin.end(), true)) : stdin.write(data);
      if (!ok) {
        call.pause();
        stdin.once('drain', () => call.resume());
      }
    };
    call.on('data', (request: TartExecRequest) => {
      if (finished) {
        return;
      }
      if (!started) {
        started = true;
        if (request.type !== 'command') {
          fail(status.UNKNOWN, 'first exec request should describe a command to execute');
          return;
        }
        interactive = request.command.interactive;
        try {
          running = startCommand(request.command, call, () => (finished = true));
        } catch (err) {
          fail(status.UNKNOWN, (err as Error).message);
        }
        return;
      }
      const pty = running?.pty;
      if (request.type === 'terminal_resize' && pty) {
        const size = request.terminal_resize;
        queue = queue.then(() => {
          pty.resize(size);
          return pty.idle;
        });
      } else if (request.type === 'standard_input') {
        const data = request.standard_input.data;
        if (pty) {
          queue = queue.then(() => input(data));
        } else {
          input(data);
        }
      }
    });
    call.on('end', () => {
      if (!running?.pty) {
        running?.child.stdin?.end();
      }
    });
    const kill = () => running && killGroup(running.child);
    call.on('cancelled', kill);
    call.on('error', kill);
  };

  return {
    handlers: {
      Exec: exec,
      ResolveIP: (_call, callback) => {
        setTimeout(() => {
          const ip = options.ip();
          if (ip === undefined) {
            callback({ code: status.UNKNOWN, details: "cannot resolve VM's IP address" });
          } else {
            callback(null, { ip });
          }
        }, options.resolveDelayMs ?? 0);
      },
    },
    killAll: () => {
      for (const command of commands) {
        killGroup(command.child);
      }
    },
  };
}

/** Kills a command's process group (it may have started others), or the command alone if that fails. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Go's exec.LookPath, with its error texts (the agent reports them as the gRPC error). */
function lookPath(name: string, path: string, cwd: string): string {
  const executable = (candidate: string): boolean => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) {
    const full = isAbsolute(name) ? name : join(cwd, name);
    if (!executable(full)) {
      throw new Error(`fork/exec ${name}: no such file or directory`);
    }
    return full;
  }
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir === '' ? '.' : dir, name);
    if (dir !== '' && executable(candidate)) {
      return candidate;
    }
  }
  throw new Error(`exec: "${name}": executable file not found in $PATH`);
}
