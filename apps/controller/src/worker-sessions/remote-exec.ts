import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import type { TunnelFrame } from '@grove/proto';
import { TunnelBroker, type TunnelLink } from './tunnel-broker';

/** What to run in a VM: a program and its arguments, without a shell. */
export interface ExecSpec {
  argv: string[];
  /** The command reads stdin (writeStdin/endStdin); otherwise its stdin is empty. */
  interactive: boolean;
  /** Run on a pseudo-terminal (stdout and stderr arrive merged as stdout). */
  tty: boolean;
  rows?: number;
  cols?: number;
  env?: Record<string, string>;
  workdir?: string;
}

/** How a remote command ended: its exit status, or why it could not finish (no exit status then). */
export type ExecEnd = { exitCode: number } | { error: string };

/** The command could not be started in the VM (neither through its guest agent nor over SSH). */
export class ExecStartError extends Error {}

/** How long a worker may take to start a command after taking the session (agent, then SSH with its retries). */
const WORKER_START_TIMEOUT_MS = 60_000;

const LINK_LOST = 'the connection to the worker was lost';

/**
 * A command running in a VM, seen from the controller, over one of its worker's tunnels. Emits `stdout` and `stderr`
 * (Buffer) and then once `end` (ExecEnd); `done` resolves with the same value. Output follows HTTP/2 flow control:
 * `pause()` stops reading it (the worker, and then the command, wait), `resume()` reads on.
 */
export class RemoteExec extends EventEmitter {
  /** How the worker runs the command: `agent` (the VM's guest agent) or `ssh`. */
  via = '';
  readonly done: Promise<ExecEnd>;
  /** Bytes of stdin sent, and of stdout and stderr received (for audit records). */
  bytesIn = 0;
  bytesOut = 0;
  private ended = false;
  /** Output is held from the start until whoever awaited ExecLauncher.start has attached its listeners. */
  private holding = false;
  private pausedByUser = false;
  private resolveDone!: (end: ExecEnd) => void;

  constructor(
    readonly session: string,
    private readonly call: TunnelLink,
  ) {
    super();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    call.on('data', (frame: TunnelFrame | undefined) => frame && this.onFrame(frame));
    call.on('error', (err: Error & { details?: string }) => this.finish({ error: err.details || err.message }));
    call.once('cancelled', () => this.finish({ error: LINK_LOST }));
    call.once('end', () => this.finish({ error: 'the worker ended the session without an exit status' }));
    call.once('close', () => this.finish({ error: LINK_LOST }));
  }

  get finished(): boolean {
    return this.ended;
  }

  /** Sends stdin bytes (interactive commands); false means wait for 'drain' before sending more. */
  writeStdin(data: Buffer): boolean {
    if (this.ended || data.length === 0) {
      return true;
    }
    this.bytesIn += data.length;
    let ok = true;
    for (let at = 0; at < data.length; at += 64 * 1024) {
      ok = this.call.write({ kind: 'stdin', data: data.subarray(at, at + 64 * 1024) } satisfies TunnelFrame);
    }
    if (!ok) {
      this.call.once('drain', () => this.emit('drain'));
    }
    return ok;
  }

  /** Closes the command's stdin (end of file). */
  endStdin(): void {
    if (!this.ended) {
      this.call.write({ kind: 'stdin', data: Buffer.alloc(0) } satisfies TunnelFrame);
    }
  }

  /** Changes the terminal size (tty commands). */
  resize(rows: number, cols: number): void {
    if (!this.ended) {
      this.call.write({ kind: 'resize', rows, cols } satisfies TunnelFrame);
    }
  }

  pause(): void {
    this.pausedByUser = true;
    this.call.pause();
  }

  resume(): void {
    this.pausedByUser = false;
    if (!this.holding) {
      this.call.resume();
    }
  }

  /** Lets held output flow (ExecLauncher.start calls it once its caller had a chance to listen). */
  release(): void {
    this.holding = false;
    if (!this.pausedByUser) {
      this.call.resume();
    }
  }

  /** Ends the session; the worker kills the command. Resolves `done` with `{ error: reason }`. */
  kill(reason: string): void {
    if (this.ended) {
      return;
    }
    this.call.write({ kind: 'error', message: reason } satisfies TunnelFrame);
    this.call.end();
    this.finish({ error: reason });
  }

  /** The worker's answer to the start: resolves with how it runs the command, rejects with why it could not. */
  started(signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.off('started', onStarted);
        this.off('end', onEnd);
        signal?.removeEventListener('abort', onAbort);
      };
      const onStarted = (via: string) => {
        cleanup();
        resolve(via);
      };
      const onEnd = (end: ExecEnd) => {
        cleanup();
        reject(new ExecStartError('error' in end ? end.error : `the command ended with status ${end.exitCode}`));
      };
      const onAbort = () => {
        cleanup();
        this.kill('the exec request was cancelled');
        reject(new ExecStartError('the exec request was cancelled'));
      };
      if (this.via) {
        resolve(this.via);
        return;
      }
      if (this.ended) {
        void this.done.then(onEnd);
        return;
      }
      this.on('started', onStarted);
      this.on('end', onEnd);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onFrame(frame: TunnelFrame): void {
    if (this.ended) {
      return;
    }
    switch (frame.kind) {
      case 'execStarted':
        // Frames after this one may come in the same batch, before the starter's listeners exist: hold them.
        this.holding = true;
        this.call.pause();
        this.via = frame.via;
        this.emit('started', frame.via);
        return;
      case 'stdout':
      case 'stderr':
        this.bytesOut += frame.data.length;
        this.emit(frame.kind, frame.data);
        return;
      case 'exit':
        this.call.end();
        this.finish({ exitCode: frame.code });
        return;
      case 'error':
        this.call.end();
        this.finish({ error: frame.message });
        return;
      case 'open':
      case 'opened':
      case 'data':
      case 'window':
      case 'closeWrite':
      case 'execStart':
      case 'stdin':
      case 'resize':
        // Frames of port-forward sessions or of the controller's own direction: not expected here, ignored.
        return;
    }
  }

  private finish(end: ExecEnd): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.call.on('error', () => undefined);
    this.resolveDone(end);
    this.emit('end', end);
  }
}

/**
 * Starts commands in VMs through their workers' tunnels (the first frame of a tunnel is `execStart` instead of
 * `open`). Shared by the exec endpoints and the SSH gateway.
 */
@Injectable()
export class ExecLauncher {
  constructor(private readonly broker: TunnelBroker) {}

  /**
   * Starts `spec` in a running VM. Resolves once the worker reports the command started; rejects with a
   * TunnelUnavailableError when no tunnel of the worker comes within `timeoutMs`, or an ExecStartError with the
   * worker's reason (agent and SSH both failed, VM gone). `traceparent`: of the caller's span of the session, for the
   * worker's span to be its child (issue 14).
   */
  async start(
    vm: Vm,
    spec: ExecSpec,
    options: { timeoutMs: number; signal?: AbortSignal; traceparent?: string },
  ): Promise<RemoteExec> {
    const call = await this.broker.take(vm.worker, options.timeoutMs, options.signal);
    const exec = new RemoteExec(randomUUID(), call);
    call.write({
      kind: 'execStart',
      session: exec.session,
      vmUid: vm.uid,
      argv: spec.argv,
      interactive: spec.interactive || spec.tty,
      tty: spec.tty,
      rows: spec.rows ?? 0,
      cols: spec.cols ?? 0,
      env: spec.env ?? {},
      workdir: spec.workdir ?? '',
      username: vm.username || 'admin',
      password: vm.password || 'admin',
      ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
    } satisfies TunnelFrame);
    call.resume();
    const deadline = AbortSignal.timeout(WORKER_START_TIMEOUT_MS);
    try {
      await exec.started(options.signal ? AbortSignal.any([options.signal, deadline]) : deadline);
    } catch (err) {
      if (deadline.aborted) {
        throw new ExecStartError(
          `worker "${vm.worker}" did not start the command within ${WORKER_START_TIMEOUT_MS / 1000} s`,
        );
      }
      throw err;
    }
    // The caller attaches its listeners when its await resumes (microtasks); output flows after that.
    setImmediate(() => exec.release());
    return exec;
  }
}
