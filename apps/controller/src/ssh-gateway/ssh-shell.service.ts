import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { SessionMetrics } from '../metrics/session-metrics';
import { TunnelSessionService } from '../tunnels/tunnel-session.service';
import { AuditRecorder } from '../vms/audit-recorder';
import { ExecLauncher, type ExecEnd, type ExecSpec, type RemoteExec } from '../worker-sessions/remote-exec';
import type { SshPrincipal } from './ssh-gateway-auth';
import { flushed } from './ssh-channel';
import { sshFailure } from './ssh-gateway.errors';

/** How long a session waits for its VM to run, and for a tunnel of its worker. */
export const SESSION_WAIT_SECONDS = 10;
/** Exit status of a session that could not run or finish its command (as OpenSSH's own failures). */
export const FAILED_SESSION_STATUS = 255;
/** What runs when the client asks for a shell: the login shell of the VM's user, else /bin/sh. */
export const LOGIN_SHELL_ARGV = ['/bin/sh', '-c', 'exec "${SHELL:-/bin/sh}" -l'];
/** At most this many `env` requests per session are accepted (names must be shell variable names). */
const MAX_ENV_VARIABLES = 64;

/** The audit record of one SSH session (logged as JSON, and stored as an `audit` event of the VM). */
export interface SshSessionAuditRecord {
  type: 'ssh-session';
  session: string;
  account: string;
  authMethod: string;
  remoteAddress: string;
  vm: string;
  vmUid: string;
  worker: string;
  /** The command asked for; absent for an interactive shell. */
  command?: string;
  tty: boolean;
  /** How the worker ran it (`agent` or `ssh`). */
  via: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  exitCode?: number;
  error?: string;
}

/** What the requests of one session channel set up before its shell or command starts. */
interface SessionSetup {
  env: Record<string, string>;
  pty?: { rows: number; cols: number; term: string };
  running?: RemoteExec;
  /** A window-change that came while the command was starting. */
  pendingSize?: { rows: number; cols: number };
}

/**
 * Session channels of `sa+vm` logins: the shell or command runs in the VM through the exec path (the VM's guest
 * agent, or SSH inside the VM), not through an SSH connection of the controller. `pty-req` gives it a terminal of
 * that size, `window-change` resizes it, `env` sets variables; stdin flows with its end of file, stdout and stderr
 * stay apart (merged on a terminal), and the exit status comes back. A command that cannot run or finish ends with a
 * message on stderr and status 255.
 */
@Injectable()
export class SshShellService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('SshGateway');
  private readonly running = new Set<RemoteExec>();

  constructor(
    private readonly tunnels: TunnelSessionService,
    private readonly launcher: ExecLauncher,
    private readonly auditRecorder: AuditRecorder,
    private readonly metrics: SessionMetrics,
  ) {}

  beforeApplicationShutdown(): void {
    for (const exec of [...this.running]) {
      exec.kill('the controller is shutting down');
    }
  }

  /** Serves one accepted session channel of a principal whose login names a VM. */
  serve(session: Session, principal: SshPrincipal, vmName: string): void {
    const setup: SessionSetup = { env: {} };
    session.on('env', (accept, reject, info: { key: string; val: string }) => {
      if (Object.keys(setup.env).length >= MAX_ENV_VARIABLES || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(info.key)) {
        reject?.();
        return;
      }
      setup.env[info.key] = info.val;
      accept?.();
    });
    session.on('pty', (accept, _reject, info: PseudoTtyInfo & { term?: string }) => {
      // ssh2 passes the TERM value of the request, though its type declarations omit it.
      setup.pty = { rows: info.rows || 24, cols: info.cols || 80, term: info.term || 'xterm-256color' };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info: { rows: number; cols: number }) => {
      const size = { rows: info.rows || 24, cols: info.cols || 80 };
      if (setup.running) {
        setup.running.resize(size.rows, size.cols);
      } else {
        setup.pendingSize = size;
      }
      accept?.();
    });
    session.once('exec', (accept, _reject, info: { command: string }) => {
      void this.run(accept(), principal, vmName, setup, info.command);
    });
    session.once('shell', (accept) => {
      void this.run(accept(), principal, vmName, setup, undefined);
    });
  }

  private async run(
    channel: ServerChannel,
    principal: SshPrincipal,
    vmName: string,
    setup: SessionSetup,
    command: string | undefined,
  ): Promise<void> {
    const startedAt = new Date();
    const gone = new AbortController();
    channel.once('close', () => gone.abort());
    // Bytes the client types before the command starts wait in the channel (its window limits them).
    channel.pause();
    const tty = setup.pty !== undefined;
    const spec: ExecSpec = {
      argv: command === undefined ? LOGIN_SHELL_ARGV : ['/bin/sh', '-c', command],
      interactive: true,
      tty,
      ...(setup.pty ? { rows: setup.pty.rows, cols: setup.pty.cols } : {}),
      env: { ...(setup.pty ? { TERM: setup.pty.term } : {}), ...setup.env },
    };
    let vm: Vm;
    let exec: RemoteExec;
    let setupStartedAt = 0;
    try {
      vm = await this.tunnels.waitForRunningVm(vmName, SESSION_WAIT_SECONDS);
      setupStartedAt = performance.now();
      exec = await this.launcher.start(vm, spec, { timeoutMs: SESSION_WAIT_SECONDS * 1000, signal: gone.signal });
    } catch (err) {
      if (gone.signal.aborted) {
        return;
      }
      this.metrics.refused('ssh');
      const failure = sshFailure(err, this.logger);
      this.logger.log(
        `session of "${principal.account.name}" from ${principal.remoteAddress} in VM "${vmName}" failed: ` +
          failure.message,
      );
      await this.finish(channel, tty, { error: failure.message });
      return;
    }
    setup.running = exec;
    this.running.add(exec);
    const ended = this.metrics.started('ssh', setupStartedAt);
    if (setup.pendingSize) {
      exec.resize(setup.pendingSize.rows, setup.pendingSize.cols);
    }
    this.relay(channel, exec);
    if (gone.signal.aborted) {
      exec.kill('the SSH client closed the session');
    }
    channel.once('close', () => exec.kill('the SSH client closed the session'));
    const end = await exec.done;
    this.running.delete(exec);
    ended('exitCode' in end ? 'ok' : 'error', { toTarget: exec.bytesIn, fromTarget: exec.bytesOut });
    await this.finish(channel, tty, end);
    this.record(principal, vm, exec, { command, tty, startedAt }, end);
  }

  /** Moves stdin, stdout and stderr between the channel and the command, each direction with backpressure. */
  private relay(channel: ServerChannel, exec: RemoteExec): void {
    const toClient = (stream: Writable) => (data: Buffer) => {
      if (!stream.write(data)) {
        exec.pause();
        stream.once('drain', () => exec.resume());
      }
    };
    exec.on('stdout', toClient(channel));
    exec.on('stderr', toClient(channel.stderr));
    channel.on('data', (data: Buffer) => {
      if (!exec.writeStdin(data)) {
        channel.pause();
        exec.once('drain', () => channel.resume());
      }
    });
    channel.once('end', () => exec.endStdin());
    channel.resume();
  }

  /** Sends the exit status after all output (or the failure on stderr and 255), then closes the channel. */
  private async finish(channel: ServerChannel, tty: boolean, end: ExecEnd): Promise<void> {
    if (channel.destroyed || !channel.writable) {
      return;
    }
    if ('error' in end) {
      const newline = tty ? '\r\n' : '\n';
      channel.stderr.write(`grove: ${end.error}${newline}`);
    }
    await Promise.all([flushed(channel, channel), flushed(channel.stderr, channel)]);
    channel.exit('exitCode' in end ? end.exitCode : FAILED_SESSION_STATUS);
    channel.end();
  }

  private record(
    principal: SshPrincipal,
    vm: Vm,
    exec: RemoteExec,
    info: { command: string | undefined; tty: boolean; startedAt: Date },
    end: ExecEnd,
  ): void {
    const endedAt = new Date();
    const record: SshSessionAuditRecord = {
      type: 'ssh-session',
      session: exec.session || randomUUID(),
      account: principal.account.name,
      authMethod: principal.method,
      remoteAddress: principal.remoteAddress,
      vm: vm.name,
      vmUid: vm.uid,
      worker: vm.worker,
      ...(info.command !== undefined ? { command: info.command } : {}),
      tty: info.tty,
      via: exec.via,
      startedAt: info.startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      durationMs: endedAt.getTime() - info.startedAt.getTime(),
      bytesIn: exec.bytesIn,
      bytesOut: exec.bytesOut,
      ...('exitCode' in end ? { exitCode: end.exitCode } : { error: end.error }),
    };
    this.auditRecorder.record(record, vm, endedAt);
  }
}
