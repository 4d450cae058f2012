import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { HostProcess } from '@grove/resources';

/** How long a host process has to accept a connection on its socket (Orchard's 200 tries 50 ms apart). */
export const HOST_PROCESS_READY_TIMEOUT_MS = 10_000;
/** Pause between two tries to connect to a process's socket while it starts. */
const READY_RETRY_MS = 50;
/**
 * How long a stopped process has between SIGTERM and SIGKILL. SIGTERM first lets a well-behaved program close its
 * connections and remove its socket; the grace is short because the VM's run (or the worker) is ending and waits for
 * it, and SIGKILL to the whole group then ends whatever ignored the request, grandchildren included.
 */
export const HOST_PROCESS_STOP_GRACE_MS = 3_000;
/** Output lines longer than this are cut in the worker's log: a process must not flood it with one endless line. */
export const HOST_PROCESS_LOG_LINE_CHARS = 2_048;

/** The names a host process finds in its environment and can use as `${NAME}` in its arguments. */
export const HOST_PROCESS_VARIABLES = ['WORKER_NAME', 'VM_NAME', 'VM_CONTROL_SOCKET', 'PROCESS_SOCKET'] as const;

/** Where a host process runs. */
export interface HostProcessContext {
  workerName: string;
  vmName: string;
  /** The VM's control socket (Tart's `control.sock`), reached through the `vm.sock` alias in the process directory. */
  controlSocket: string;
  /** The worker's `PATH`, the only variable of the worker's own environment a process gets. */
  path: string;
  /** Logs a line of the worker's log. */
  log: (line: string) => void;
  /** How long the process has to listen on its socket; default {@link HOST_PROCESS_READY_TIMEOUT_MS}. */
  readyTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL when stopped; default {@link HOST_PROCESS_STOP_GRACE_MS}. */
  stopGraceMs?: number;
}

/** The parent of the process directories: `/var/tmp` keeps socket paths short (macOS's `os.tmpdir()` is long). */
export function hostProcessBaseDir(): string {
  return existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
}

/**
 * A process's environment (orchard-2026.md §1.2.3): the spec's `env`, then the values the worker decides, which the
 * spec cannot override: the worker's `PATH` and `ORCHARD_*` (Orchard's names, so that Orchard's host programs run
 * unchanged) with `GROVE_*` twins. Nothing else of the worker's environment: it may hold credentials.
 */
export function hostProcessEnvironment(
  spec: Pick<HostProcess, 'env'>,
  values: Record<(typeof HOST_PROCESS_VARIABLES)[number], string> & { PATH: string },
): Record<string, string> {
  const env: Record<string, string> = { ...spec.env, PATH: values.PATH };
  for (const name of HOST_PROCESS_VARIABLES) {
    env[`ORCHARD_${name}`] = values[name];
    env[`GROVE_${name}`] = values[name];
  }
  return env;
}

/** Replaces `${ORCHARD_…}` and `${GROVE_…}` of {@link HOST_PROCESS_VARIABLES} in an argument; anything else stays. */
export function expandHostProcessArg(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\{((?:ORCHARD|GROVE)_[A-Z_]+)\}/g, (whole, name: string) => {
    const bare = name.replace(/^(ORCHARD|GROVE)_/, '');
    return (HOST_PROCESS_VARIABLES as readonly string[]).includes(bare) ? env[name] : whole;
  });
}

/** How a process ended, in words for a status message: `exited with code 1`, `was killed by SIGKILL`. */
function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return code !== null ? `exited with code ${code}` : `was killed by ${signal ?? 'a signal'}`;
}

/** One connection attempt to a Unix socket: the socket, or undefined when nobody accepts there (yet). */
function dialOnce(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

/**
 * One host process of a VM on this worker, from start to stop: a fresh private directory (`mkdtemp`, mode 0700) under
 * {@link hostProcessBaseDir} holding `vm.sock` (a symlink to the VM's control socket) and, once the program listens,
 * `process.sock`; the program in that directory, in a process group of its own, without a shell; its output lines in
 * the worker's log. `start` resolves once the socket accepts a connection. Exiting, or being stopped, kills what is
 * left of the group and removes the directory.
 */
export class ManagedHostProcess {
  private directory: string | undefined;
  private child: ChildProcess | undefined;
  private state: 'starting' | 'ready' | 'ended' = 'starting';
  private exitReason: string | undefined;
  private stopping = false;
  private readonly ended: Promise<void>;
  private markEnded: () => void = () => undefined;
  /** Called once when the process ends by itself (not through `stop`), with how it ended. */
  onExit: ((reason: string) => void) | undefined;

  constructor(
    readonly spec: HostProcess,
    private readonly context: HostProcessContext,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  get name(): string {
    return this.spec.name;
  }

  /** The process's directory, once `start` has made it. */
  get dir(): string | undefined {
    return this.directory;
  }

  /** Where the process must listen (`ORCHARD_PROCESS_SOCKET`). */
  get socketPath(): string {
    return join(this.directory ?? '', 'process.sock');
  }

  /** Ended, or never started (a getter, so that checks after an `await` are not narrowed away). */
  private get hasEnded(): boolean {
    return this.state === 'ended';
  }

  /** Started and accepting connections on its socket. */
  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Why the process is not running any more (`exited with code 1`), once it has ended. */
  get exited(): string | undefined {
    return this.hasEnded ? (this.exitReason ?? 'was stopped') : undefined;
  }

  /**
   * Starts the program and waits until its socket accepts a connection; rejects with why not (`exited with code 1`,
   * `program "x" was not found`, `did not listen on its socket within 10 s`), and then the process is gone.
   */
  async start(): Promise<void> {
    const { spec, context } = this;
    if (this.hasEnded) {
      throw new Error(this.exitReason); // stopped before it started
    }
    let dir: string;
    try {
      dir = mkdtempSync(join(hostProcessBaseDir(), 'grove-hp-'));
      this.directory = dir;
      // A dangling link until `tart run` creates the socket: the processes start first (orchard-2026.md §1.2.3).
      symlinkSync(context.controlSocket, join(dir, 'vm.sock'));
    } catch (err) {
      this.end(`cannot prepare its directory: ${(err as Error).message}`);
      throw new Error(this.exitReason);
    }
    const env = hostProcessEnvironment(spec, {
      PATH: context.path,
      WORKER_NAME: context.workerName,
      VM_NAME: context.vmName,
      VM_CONTROL_SOCKET: join(dir, 'vm.sock'),
      PROCESS_SOCKET: this.socketPath,
    });
    let child: ChildProcess;
    try {
      child = spawn(
        spec.program,
        (spec.args ?? []).map((arg) => expandHostProcessArg(arg, env)),
        {
          cwd: dir,
          env,
          // Its own process group, so that stopping reaches everything it started, and a terminal's ^C to the worker
          // does not reach it before the worker has stopped its VM.
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    } catch (err) {
      // Arguments spawn refuses outright (a NUL byte in one).
      this.end(`cannot run program "${spec.program}": ${(err as Error).message}`);
      throw new Error(this.exitReason);
    }
    this.child = child;
    this.logLines(child.stdout!, '');
    this.logLines(child.stderr!, ' (stderr)');
    child.once('error', (err: NodeJS.ErrnoException) =>
      this.end(
        err.code === 'ENOENT'
          ? `program "${spec.program}" was not found`
          : `cannot run program "${spec.program}": ${err.message}`,
      ),
    );
    child.once('exit', (code, signal) => this.end(describeExit(code, signal)));
    const timeoutMs = context.readyTimeoutMs ?? HOST_PROCESS_READY_TIMEOUT_MS;
    const socket = await this.dial(Date.now() + timeoutMs);
    if (socket) {
      socket.destroy();
      this.state = 'ready';
      this.context.log(`host process ${spec.name} is ready (pid ${child.pid}, in ${dir})`);
      return;
    }
    if (this.hasEnded) {
      throw new Error(this.exitReason);
    }
    await this.stop();
    throw new Error(`did not listen on its socket within ${Math.round(timeoutMs / 100) / 10} s`);
  }

  /**
   * A connection to the process's socket for a tunnel session; while the process starts, tries again until it
   * listens (as `start` does). Throws when it does not run.
   */
  async connect(signal: AbortSignal): Promise<Socket> {
    if (this.hasEnded || this.stopping) {
      throw new Error(`host process "${this.name}" is not running`);
    }
    const deadline = Date.now() + (this.context.readyTimeoutMs ?? HOST_PROCESS_READY_TIMEOUT_MS);
    const socket = await this.dial(deadline, signal);
    if (socket) {
      return socket;
    }
    signal.throwIfAborted();
    throw new Error(
      this.hasEnded
        ? `host process "${this.name}" is not running: it ${this.exitReason}`
        : `host process "${this.name}" does not accept connections on its socket`,
    );
  }

  /** Ends the process group: SIGTERM, then SIGKILL after the grace; resolves once it is gone and its directory too. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.state !== 'ended') {
      this.signalGroup('SIGTERM');
      const kill = setTimeout(
        () => this.signalGroup('SIGKILL'),
        this.context.stopGraceMs ?? HOST_PROCESS_STOP_GRACE_MS,
      );
      if (!this.child) {
        this.end('was stopped');
      }
      await this.ended;
      clearTimeout(kill);
    }
  }

  /** Tries to connect until the deadline, the process's end or the signal; undefined if it never accepted. */
  private async dial(deadline: number, signal?: AbortSignal): Promise<Socket | undefined> {
    for (;;) {
      if (this.hasEnded || signal?.aborted) {
        return undefined;
      }
      const socket = await dialOnce(this.socketPath);
      if (socket) {
        if (this.hasEnded || signal?.aborted) {
          socket.destroy();
          return undefined;
        }
        return socket;
      }
      if (Date.now() >= deadline) {
        return undefined;
      }
      await this.pause(signal);
    }
  }

  /** Waits {@link READY_RETRY_MS}, or less when the process ends or the signal fires. */
  private pause(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, READY_RETRY_MS);
      signal?.addEventListener('abort', done, { once: true });
      void this.ended.then(done);
    });
  }

  /** The program is gone (or never started): kill what it left in its group, remove the directory, tell the owner. */
  private end(reason: string): void {
    if (this.hasEnded) {
      return;
    }
    const wasStopping = this.stopping;
    const wasReady = this.state === 'ready';
    this.state = 'ended';
    this.exitReason = reason;
    // Children it started stay in its group after it exits; they must not outlive it with the directory gone.
    this.signalGroup('SIGKILL');
    if (this.directory !== undefined) {
      rmSync(this.directory, { recursive: true, force: true });
    }
    if (!wasStopping) {
      this.context.log(`host process ${this.name} ${reason}`);
    }
    this.markEnded();
    if (!wasStopping && wasReady) {
      this.onExit?.(reason);
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) {
      return;
    }
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: nothing is left of the group.
    }
  }

  /** Logs each output line with the process's name, cut at {@link HOST_PROCESS_LOG_LINE_CHARS}. */
  private logLines(stream: Readable, suffix: string): void {
    let pending = '';
    let skipping = false;
    const emit = (line: string) => this.context.log(`host process ${this.name}${suffix}: ${line}`);
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop()!;
      for (const line of parts) {
        if (skipping) {
          skipping = false;
        } else {
          emit(line.length > HOST_PROCESS_LOG_LINE_CHARS ? `${line.slice(0, HOST_PROCESS_LOG_LINE_CHARS)}…` : line);
        }
      }
      if (pending.length > HOST_PROCESS_LOG_LINE_CHARS) {
        if (!skipping) {
          emit(`${pending.slice(0, HOST_PROCESS_LOG_LINE_CHARS)}…`);
        }
        // The rest of this line, up to its newline, is dropped.
        skipping = true;
        pending = '';
      }
    });
    stream.on('end', () => {
      if (pending !== '' && !skipping) {
        emit(pending);
      }
    });
  }
}
