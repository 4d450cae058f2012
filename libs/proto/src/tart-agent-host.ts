import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { type ServerDuplexStream, status } from '@grpc/grpc-js';
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

/**
 * The Tart Guest Agent's service (tart.md §4.3) with commands run on the host: the guest of Grove's synthetic VMs and
 * of the stand-in `tart`. Semantics of agent v0.9: the first message must be a command, which runs without a shell,
 * with `env` merged and `workdir` applied; stdin only for interactive commands (an empty chunk is EOF); 4 KiB chunks;
 * exactly one `exit`; an UNKNOWN error when the executable cannot start. Node cannot allocate a pseudo-terminal
 * without a native module, so `tty` is approximated: stdout and stderr both arrive as standard_output (as on a PTY),
 * terminal sizes are ignored and isatty() is false in the command.
 */
export function hostAgent(options: HostAgentOptions): HostAgent {
  const children = new Set<ChildProcess>();

  const startCommand = (
    command: TartExecCommand,
    call: ServerDuplexStream<TartExecRequest, TartExecResponseInput>,
    onFinish: () => void,
  ): ChildProcess => {
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
      return detached;
    }
    const child = spawn(executable, command.args, {
      cwd,
      env,
      stdio: [command.interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    const forward = (kind: 'standard_output' | 'standard_error') => (data: Buffer) => {
      for (let offset = 0; offset < data.length; offset += CHUNK) {
        const chunk = { data: data.subarray(offset, offset + CHUNK) };
        call.write(kind === 'standard_output' ? { standard_output: chunk } : { standard_error: chunk });
      }
    };
    child.stdout?.on('data', forward('standard_output'));
    child.stderr?.on('data', forward(command.tty ? 'standard_output' : 'standard_error'));
    child.on('error', (err) => {
      children.delete(child);
      onFinish();
      call.emit('error', { code: status.UNKNOWN, details: `exec: ${err.message}` });
    });
    // 'close' comes after the process exited and both pipes reached EOF: then exactly one exit message.
    child.on('close', (code) => {
      children.delete(child);
      onFinish();
      call.write({ exit: { code: code ?? -1 } });
      call.end();
    });
    return child;
  };

  const exec = (call: ServerDuplexStream<TartExecRequest, TartExecResponseInput>): void => {
    let child: ChildProcess | undefined;
    let finished = false;
    const fail = (code: status, details: string): void => {
      if (!finished) {
        finished = true;
        call.emit('error', { code, details });
      }
    };
    call.on('data', (request: TartExecRequest) => {
      if (finished) {
        return;
      }
      if (child === undefined) {
        if (request.type !== 'command') {
          fail(status.UNKNOWN, 'first exec request should describe a command to execute');
          return;
        }
        try {
          child = startCommand(request.command, call, () => (finished = true));
        } catch (err) {
          fail(status.UNKNOWN, (err as Error).message);
        }
        return;
      }
      if (request.type === 'standard_input' && child.stdin) {
        if (request.standard_input.data.length === 0) {
          child.stdin.end();
        } else {
          child.stdin.write(request.standard_input.data);
        }
      }
    });
    call.on('end', () => child?.stdin?.end());
    call.on('cancelled', () => child?.kill('SIGKILL'));
    call.on('error', () => child?.kill('SIGKILL'));
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
      for (const child of children) {
        child.kill('SIGKILL');
      }
    },
  };
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
