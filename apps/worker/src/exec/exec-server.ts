import type { Socket } from 'node:net';
import { TUNNEL_MAX_DATA_BYTES, type TunnelFrame } from '@grove/proto';
import type { Tracing } from '@grove/telemetry';
import type { GuestAgentAddress } from '../runtime/vm-runtime';
import type { TunnelClientCall } from '../session/tunnel-pool';
import { AgentExecutor } from './agent-exec';
import {
  AgentUnavailableError,
  type ExecEnd,
  type ExecStartFrame,
  type ExecHandle,
  type ExecRequest,
  type ExecSink,
} from './exec-process';
import { SshConnections } from './ssh-connections';
import { SshExecutor } from './ssh-exec';

/** How an exec session's command ran. */
export const EXEC_VIAS = ['agent', 'ssh'] as const;
export type ExecVia = (typeof EXEC_VIAS)[number];
/** How an exec session ended: the command exited (whatever its status), it failed or could not start, or it was cancelled. */
export const EXEC_RESULTS = ['exited', 'failed', 'cancelled'] as const;
export type ExecResult = (typeof EXEC_RESULTS)[number];

export interface ExecServerOptions {
  /** Where the guest agent of a running VM of this worker answers; throws when the VM does not run here. */
  guestAgent: (vmUid: string) => GuestAgentAddress;
  /** A TCP connection to a port of a running VM of this worker. */
  connectVm: (vmUid: string, port: number, signal: AbortSignal) => Promise<Socket>;
  log: (line: string) => void;
  /** How long the agent may take to accept a connection before SSH is tried; default 3 s. */
  agentReadyTimeoutMs?: number;
  /** See {@link AgentExecutorOptions.startSettleMs}; default 100 ms. */
  agentStartSettleMs?: number;
  /** How long SSH connection attempts are retried; default 10 s. */
  sshSetupTimeoutMs?: number;
  /** SSH keepalive interval; default 30 s. */
  sshKeepaliveMs?: number;
  /** Told how each session ran (undefined: it never started) and ended: the worker's metrics. */
  onSessionEnd?: (via: ExecVia | undefined, result: ExecResult) => void;
  /**
   * Spans of the sessions (`worker.exec`, with `worker.exec.start`), children of the controller's through the
   * execStart frame's `traceparent` (issue 14); absent when traces are not exported.
   */
  tracing?: Tracing;
}

/** After the agent of a VM did not answer and SSH did, its execs use SSH for this long before the agent is asked again. */
const AGENT_ABSENT_MEMORY_MS = 60_000;

/** One exec session being served. */
interface ActiveExec {
  /** Ends the session: kills the command and tells the controller why. */
  abort(reason: string): void;
}

/**
 * The worker's end of exec sessions (the first frame of a tunnel is `execStart`): runs the command through the VM's
 * guest agent, or over SSH when the agent does not answer, tells the controller how (`execStarted`) or why it could
 * not (an `error` frame), then moves stdin, resizes and output until the command ends with one `exit` or `error`
 * frame. The controller ends a session early with an `error` frame or by ending the call; the command is killed then.
 */
export class ExecServer {
  private readonly active = new Set<ActiveExec>();
  private readonly agent: AgentExecutor;
  private readonly ssh: SshExecutor;
  private readonly sshConnections: SshConnections;
  /** VMs whose agent did not answer while SSH did, and until when their execs go straight to SSH. */
  private readonly agentAbsent = new Map<string, number>();

  constructor(private readonly options: ExecServerOptions) {
    this.agent = new AgentExecutor({
      readyTimeoutMs: options.agentReadyTimeoutMs ?? 3_000,
      startSettleMs: options.agentStartSettleMs ?? 100,
    });
    this.sshConnections = new SshConnections({
      connectVm: options.connectVm,
      setupTimeoutMs: options.sshSetupTimeoutMs ?? 10_000,
      keepaliveMs: options.sshKeepaliveMs ?? 30_000,
      log: options.log,
    });
    this.ssh = new SshExecutor(this.sshConnections);
  }

  get activeSessions(): number {
    return this.active.size;
  }

  /** SSH connections open now for the SSH fallback (a few per VM and login: sshd limits sessions per connection). */
  get sshConnectionCount(): number {
    return this.sshConnections.size;
  }

  /** Serves one exec session; resolves when it is over. */
  async serve(start: ExecStartFrame, call: TunnelClientCall): Promise<void> {
    const { session, vmUid } = start;
    const log = (line: string) => this.options.log(`exec session ${session} in VM ${vmUid}: ${line}`);
    const cancel = new AbortController();
    let handle: ExecHandle | undefined;
    let via: ExecVia | undefined;
    let finished = false;
    let bytesIn = 0;
    let bytesOut = 0;
    const early: TunnelFrame[] = [];
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const span = this.options.tracing?.startSpan('worker.exec', {
      parent: start.traceparent,
      kind: 'server',
      attributes: { 'grove.session.id': session, 'grove.vm.uid': vmUid, 'grove.exec.program': start.argv[0] },
    });
    const starting = span && this.options.tracing?.startSpan('worker.exec.start', { parent: span });

    /** Ends the session once: `frame` (exit or error) goes to the controller unless it is the one who ended it. */
    const finish = (outcome: ExecEnd | { cancelled: string }): void => {
      if (finished) {
        return;
      }
      finished = true;
      this.active.delete(active);
      cancel.abort();
      if ('cancelled' in outcome) {
        handle?.kill();
      } else {
        call.write(
          'code' in outcome ? { kind: 'exit', code: outcome.code } : { kind: 'error', message: outcome.error },
        );
      }
      call.end();
      const what =
        'cancelled' in outcome
          ? `cancelled (${outcome.cancelled})`
          : 'code' in outcome
            ? `exited with status ${outcome.code}`
            : `failed: ${outcome.error}`;
      log(`${via ? `ran via ${via}, ` : ''}${what} (${bytesIn} bytes in, ${bytesOut} bytes out)`);
      const result = 'cancelled' in outcome ? 'cancelled' : 'code' in outcome ? 'exited' : 'failed';
      this.options.onSessionEnd?.(via, result);
      if (span) {
        starting?.end(via ? {} : { error: 'error' in outcome ? outcome.error : 'cancelled before it started' });
        span.setAttributes({
          'grove.exec.via': via,
          'grove.exec.result': result,
          'grove.exec.exit_code': 'code' in outcome ? outcome.code : undefined,
          'grove.session.bytes_to_target': bytesIn,
          'grove.session.bytes_from_target': bytesOut,
        });
        span.end('error' in outcome ? { error: outcome.error } : {});
      }
      resolveDone();
    };
    const active: ActiveExec = {
      abort: (reason) => {
        if (!finished) {
          handle?.kill();
          finish({ error: reason });
        }
      },
    };
    this.active.add(active);

    const apply = (frame: TunnelFrame, target: ExecHandle): void => {
      if (frame.kind === 'resize') {
        target.resize(frame.rows, frame.cols);
      } else if (frame.kind === 'stdin') {
        if (frame.data.length === 0) {
          target.endInput();
          return;
        }
        bytesIn += frame.data.length;
        if (!target.input(frame.data)) {
          call.pause();
          target.onInputDrain(() => call.resume());
        }
      }
    };
    call.on('data', (frame: TunnelFrame | undefined) => {
      if (!frame || finished) {
        return;
      }
      switch (frame.kind) {
        case 'stdin':
        case 'resize':
          if (handle) {
            apply(frame, handle);
          } else {
            early.push(frame);
          }
          return;
        case 'error':
          finish({ cancelled: frame.message || 'the controller ended the session' });
          return;
        case 'open':
        case 'opened':
        case 'data':
        case 'window':
        case 'closeWrite':
        case 'execStart':
        case 'execStarted':
        case 'stdout':
        case 'stderr':
        case 'exit':
          // Not frames a controller sends in an exec session; ignored like unknown ones.
          return;
      }
    });
    call.on('end', () => finish({ cancelled: 'the controller ended the session' }));
    call.on('error', (err: Error & { details?: string }) =>
      finish({ cancelled: `the connection to the controller was lost (${err.details || err.message})` }),
    );
    call.resume();

    const sink: ExecSink = {
      started: (how) => {
        via = how;
        starting?.setAttributes({ 'grove.exec.via': how });
        starting?.end();
        if (!finished) {
          call.write({ kind: 'execStarted', via: how });
          // Only the program: arguments may carry secrets.
          log(`started ${start.argv[0]} via ${how}`);
        }
      },
      output: (stream, data) => {
        if (finished) {
          return true;
        }
        bytesOut += data.length;
        let ok = true;
        for (let at = 0; at < data.length; at += TUNNEL_MAX_DATA_BYTES) {
          ok = call.write({ kind: stream, data: data.subarray(at, at + TUNNEL_MAX_DATA_BYTES) });
        }
        return ok;
      },
      onDrain: (resume) => call.once('drain', resume),
      end: (outcome) => finish(outcome),
    };

    try {
      handle = await this.start(start, sink, cancel.signal, log);
    } catch (err) {
      finish({ error: (err as Error).message });
      return done;
    }
    if (finished) {
      handle.kill();
      return done;
    }
    for (const frame of early.splice(0)) {
      apply(frame, handle);
    }
    return done;
  }

  /** Ends every session (the worker is stopping) and closes the agent channels and SSH connections. */
  closeAll(reason: string): void {
    for (const active of [...this.active]) {
      active.abort(reason);
    }
    this.agent.close();
    this.sshConnections.close();
  }

  /** The guest agent first; SSH when the agent does not answer. */
  private async start(
    request: ExecRequest,
    sink: ExecSink,
    signal: AbortSignal,
    log: (line: string) => void,
  ): Promise<ExecHandle> {
    if (request.argv.length === 0) {
      throw new Error('the command is empty');
    }
    const { target } = this.options.guestAgent(request.vmUid);
    const absentUntil = this.agentAbsent.get(request.vmUid);
    let agentFailure: AgentUnavailableError | undefined;
    if (absentUntil !== undefined && Date.now() < absentUntil) {
      log('its guest agent did not answer lately; using SSH');
    } else {
      this.agentAbsent.delete(request.vmUid);
      try {
        return await this.agent.start(target, request, sink, signal);
      } catch (err) {
        if (!(err instanceof AgentUnavailableError)) {
          throw err;
        }
        agentFailure = err;
        log(`${err.message}; trying SSH`);
      }
    }
    try {
      const handle = await this.ssh.start(request, sink, signal);
      if (agentFailure) {
        // An image without the agent: skip the agent's wait for a while (it is asked again after that).
        this.agentAbsent.set(request.vmUid, Date.now() + AGENT_ABSENT_MEMORY_MS);
      }
      return handle;
    } catch (err) {
      if (agentFailure && !signal.aborted) {
        throw new Error(
          `neither the guest agent nor SSH answered: ${agentFailure.message}; ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }
}
