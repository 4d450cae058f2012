import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, rmSync, statSync } from 'node:fs';
import { type Server as NetServer, type Socket, connect, createServer } from 'node:net';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { type ServerDuplexStream, Server, ServerCredentials, status } from '@grpc/grpc-js';
import {
  type TartAgentHandlers,
  type TartExecCommand,
  type TartExecRequest,
  type TartExecResponseInput,
  loadTartAgentProtocol,
} from '@grove/proto';

/** Largest stdout/stderr chunk the agent sends (tart.md §4.3). */
const CHUNK = 4096;

export interface AgentOptions {
  /** The guest's address once it has one. */
  ip: () => string | undefined;
  /** Whether the guest has booted far enough for its agent to answer. */
  ready: () => boolean;
  /** TART_STANDIN_AGENT=absent: every connection is closed, as when no agent listens on vsock port 8080. */
  absent: boolean;
  /** Delay before answering ResolveIP (a slow agent). */
  delayMs: number;
  /** Working directory of commands that set no workdir: the directory `tart run` was started in. */
  cwd: string;
}

/**
 * The guest side and `tart run`'s control socket (tart.md §4.1). The "guest agent" is a grpc-js server on a loopback
 * port; `control.sock` copies bytes to it, exactly as Tart proxies the socket to vsock port 8080 without knowing gRPC.
 * While the guest boots (and always with `absent`), connections are closed at once, so clients see connection errors.
 */
export class ControlSocket {
  private readonly grpc = new Server();
  private readonly listener: NetServer;
  private readonly children = new Set<ChildProcess>();
  private agentPort = 0;

  constructor(private readonly options: AgentOptions) {
    const handlers: TartAgentHandlers = {
      Exec: (call) => this.exec(call),
      ResolveIP: (_call, callback) => {
        setTimeout(() => {
          const ip = this.options.ip();
          if (ip === undefined) {
            callback({ code: status.UNKNOWN, details: "cannot resolve VM's IP address" });
          } else {
            callback(null, { ip });
          }
        }, this.options.delayMs);
      },
    };
    this.grpc.addService(loadTartAgentProtocol().Agent.service, handlers);
    this.listener = createServer((socket) => this.proxy(socket));
  }

  /**
   * Binds `control.sock` in the VM directory. Like Tart it chdirs there and binds the relative name, which keeps the
   * path under the 104-byte sun_path limit however deep TART_HOME is; a stale socket file is removed first.
   */
  async start(vmDirectory: string): Promise<void> {
    this.agentPort = await new Promise<number>((resolveBind, reject) =>
      this.grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolveBind(port),
      ),
    );
    process.chdir(vmDirectory);
    rmSync('control.sock', { force: true });
    await new Promise<void>((resolveListen, reject) => {
      this.listener.once('error', reject);
      this.listener.listen('control.sock', () => resolveListen());
    });
  }

  /** Stops serving; `removeSocket` false leaves the socket file behind. */
  stop(removeSocket: boolean): void {
    for (const child of this.children) {
      child.kill('SIGKILL');
    }
    this.listener.close();
    this.grpc.forceShutdown();
    if (removeSocket) {
      rmSync('control.sock', { force: true });
    }
  }

  private proxy(client: Socket): void {
    if (this.options.absent || !this.options.ready()) {
      client.destroy();
      return;
    }
    const guest = connect(this.agentPort, '127.0.0.1');
    client.pipe(guest).pipe(client);
    const close = (): void => {
      client.destroy();
      guest.destroy();
    };
    client.on('error', close).on('close', close);
    guest.on('error', close).on('close', close);
  }

  /** Exec (tart.md §4.3), with the command run on the host. */
  private exec(call: ServerDuplexStream<TartExecRequest, TartExecResponseInput>): void {
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
          child = this.startCommand(request.command, call, () => (finished = true));
        } catch (err) {
          fail(status.UNKNOWN, (err as Error).message);
        }
        return;
      }
      if (request.type === 'standard_input' && child.stdin) {
        // Honoured only for interactive commands (otherwise stdin is /dev/null and child.stdin is null).
        if (request.standard_input.data.length === 0) {
          child.stdin.end();
        } else {
          child.stdin.write(request.standard_input.data);
        }
      }
      // terminal_resize: there is no real PTY to resize (see startCommand).
    });
    call.on('end', () => child?.stdin?.end());
    call.on('cancelled', () => child?.kill('SIGKILL'));
    call.on('error', () => child?.kill('SIGKILL'));
  }

  private startCommand(
    command: TartExecCommand,
    call: ServerDuplexStream<TartExecRequest, TartExecResponseInput>,
    onFinish: () => void,
  ): ChildProcess {
    if (command.detach && (command.interactive || command.tty)) {
      throw new Error('detach cannot be combined with interactive or tty');
    }
    const env = { ...process.env, ...command.env };
    const cwd = command.workdir !== '' ? resolve(this.options.cwd, command.workdir) : this.options.cwd;
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

    // Node cannot allocate a pseudo-terminal without a native module, so `tty` is approximated: the command runs on
    // pipes and its stdout and stderr are both sent as standard_output (the agent merges them on a PTY and never sends
    // standard_error); terminal_size and terminal_resize are accepted and ignored, isatty() is false in the command,
    // and end of input closes stdin instead of writing 0x04.
    const child = spawn(executable, command.args, {
      cwd,
      env,
      stdio: [command.interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
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
      this.children.delete(child);
      onFinish();
      call.emit('error', { code: status.UNKNOWN, details: `exec: ${err.message}` });
    });
    // 'close' comes after the process exited and both pipes reached EOF: then exactly one exit message.
    child.on('close', (code) => {
      this.children.delete(child);
      onFinish();
      call.write({ exit: { code: code ?? -1 } });
      call.end();
    });
    return child;
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
