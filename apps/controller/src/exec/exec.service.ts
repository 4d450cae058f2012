import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { ExecEvent, ServiceAccount, Vm } from '@grove/resources';
import { closeWebSocket } from '@grove/client';
import { WebSocketServer, type WebSocket } from 'ws';
import { CONSOLE_PROTOCOL, selectProtocol } from '../common/auth/websocket-credentials';
import { ReplicaRegistry } from '../cluster/replica-registry';
import { FORWARDED_BY_HEADER, UpgradeForwarder } from '../cluster/upgrade-forwarder';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { SessionMetrics } from '../metrics/session-metrics';
import { SessionTraces } from '../telemetry/session-traces';
import { TunnelSessionService } from '../tunnels/tunnel-session.service';
import {
  clipCloseReason,
  isWebSocketHandshake,
  keepWebSocketAlive,
  NO_HEAD,
  pendingUpgrade,
  type PendingUpgrade,
} from '../tunnels/websocket-upgrade';
import { AuditRecorder } from '../vms/audit-recorder';
import {
  ExecLauncher,
  ExecStartError,
  type ExecEnd,
  type ExecSpec,
  type RemoteExec,
} from '../worker-sessions/remote-exec';
import { TunnelUnavailableError } from '../worker-sessions/tunnel-broker';
import { OutputEventEncoder } from './exec-events';
import { parseExecQuery, type ExecCommandSpec } from './exec-query';
import { CLOSE_GOING_AWAY, ExecSession, type ExecSocket } from './exec-session';
import { ExecSessionRegistry } from './exec-session.registry';
import type { ExecRequestDto } from './exec.dto';

/** Largest client message on the exec WebSocket (stdin frames are base64 JSON; Orchard's client sends 32 KiB). */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** The controller pings exec clients this often and drops one that missed a pong (Orchard: 30 s). */
const CLIENT_PING_INTERVAL_MS = 30_000;
/** A worker gets at least this long to hand over a tunnel, even with `wait=0`. */
const MIN_WORKER_WAIT_MS = 5_000;
/** What sessions and requests that shutdown ends or refuses are told. */
export const SHUTDOWN = 'the controller is shutting down';

/** Who asked for an exec, for the audit record. */
export interface ExecCaller {
  account: ServiceAccount;
  remoteAddress: string;
  /** The request's `traceparent` header: the session's span continues the client's trace (issue 14). */
  traceparent?: string;
}

/** The audit record of one exec (logged as JSON, and stored as an `audit` event of the VM). */
export interface ExecAuditRecord {
  type: 'exec';
  /** The id of this command's worker session. */
  session: string;
  /** The id of a reconnectable WebSocket session. */
  execSession?: string;
  endpoint: 'websocket' | 'http';
  account: string;
  remoteAddress: string;
  vm: string;
  vmUid: string;
  worker: string;
  /** The shell command line (WebSocket endpoint) … */
  command?: string;
  /** … or the program and its arguments (POST endpoint). */
  argv?: string[];
  via: string;
  tty: boolean;
  interactive: boolean;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  exitCode?: number;
  error?: string;
}

function queryOf(url: string | undefined): URLSearchParams {
  const at = url?.indexOf('?') ?? -1;
  return new URLSearchParams(at >= 0 ? url!.slice(at + 1) : '');
}

/** A WebSocket as an exec session sees it. */
function execSocket(ws: WebSocket): ExecSocket {
  return {
    send: (text, done) => {
      if (ws.readyState !== ws.OPEN) {
        done();
        return;
      }
      ws.send(text, () => done());
    },
    close: (code, reason) => closeWebSocket(ws, code, clipCloseReason(reason)),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

/**
 * Exec in VMs (orchard.md §1.5): Orchard's WebSocket API with legacy and reconnectable sessions, and Grove's plain
 * `POST` with an NDJSON answer. Commands run through the VM's worker (guest agent, else SSH: ExecLauncher). Errors
 * before the start are HTTP answers: 400 bad parameters, 404/408/417 as port-forward, 409 a session with other
 * options, 503 the worker could not be reached or could not start the command.
 */
@Injectable()
export class ExecService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Exec');
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    // As `ws` would (the first offered), but never the console's credentials (docs/console.md).
    handleProtocols: (protocols: Set<string>) => selectProtocol(protocols, [CONSOLE_PROTOCOL], true),
  });
  private readonly registry = new ExecSessionRegistry();
  /** WebSocket sessions whose command runs or that keep output for reattaching clients. */
  private readonly sessions = new Set<ExecSession>();
  /** Commands of the POST endpoint in progress. */
  private readonly runs = new Set<RemoteExec>();
  private shuttingDown = false;

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly tunnels: TunnelSessionService,
    private readonly launcher: ExecLauncher,
    private readonly auditRecorder: AuditRecorder,
    private readonly replicas: ReplicaRegistry,
    private readonly forwarder: UpgradeForwarder,
    private readonly metrics: SessionMetrics,
    private readonly traces: SessionTraces,
  ) {}

  /** WebSocket sessions alive and POST commands running (for tests and diagnostics). */
  get activeSessions(): { sessions: number; runs: number } {
    return { sessions: this.sessions.size, runs: this.runs.size };
  }

  /** Commands still running (WebSocket sessions whose command has not ended, and POST commands). */
  get runningCommands(): number {
    return [...this.sessions].filter((session) => session.end === undefined && !session.closed).length + this.runs.size;
  }

  /** Before the HTTP server closes: kills every command and closes every exec socket and stream. */
  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
    for (const session of [...this.sessions]) {
      session.close(CLOSE_GOING_AWAY, SHUTDOWN);
    }
    for (const run of [...this.runs]) {
      run.kill(SHUTDOWN);
    }
    this.wss.close();
  }

  /**
   * `GET /v1/vms/{name}/exec`. Throws DomainErrors (answered as HTTP errors) until it accepts the WebSocket; after
   * that, everything travels as frames.
   */
  async openWebSocket(name: string, request: IncomingMessage, caller: ExecCaller): Promise<void> {
    const query = parseExecQuery(queryOf(request.url));
    const upgrade = pendingUpgrade(request);
    const handshake = (): PendingUpgrade => {
      if (!upgrade || !isWebSocketHandshake(request)) {
        throw new DomainError(
          DomainErrorCode.InvalidInput,
          'this endpoint needs a WebSocket handshake (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)',
        );
      }
      return upgrade;
    };
    this.refuseWhenShuttingDown();
    const id = query.session;
    if (id !== undefined && (await this.forwardedToOwner(name, id, query.spec !== undefined, request, handshake))) {
      return;
    }
    if (id === undefined) {
      const spec = query.spec!;
      const deadline = Date.now() + query.waitSeconds * 1000;
      const vm = await this.tunnels.waitForRunningVm(name, query.waitSeconds);
      const pending = handshake();
      const gone = new AbortController();
      const onGone = () => gone.abort();
      pending.socket.once('close', onGone);
      let exec: RemoteExec;
      try {
        exec = await this.launch(vm, this.shellSpec(spec), deadline, caller, { command: spec.command }, gone.signal);
      } finally {
        pending.socket.off('close', onGone);
      }
      const session = new ExecSession(exec, {
        interactive: spec.interactive,
        tty: spec.tty,
        retentionMs: this.config.execSessionRetentionMs,
        onClosed: (s) => this.sessions.delete(s),
      });
      this.sessions.add(session);
      this.accept(request, pending, session);
      return;
    }
    const session = await this.registry
      .getOrCreate(name, id, query.spec, async () => {
        const spec = query.spec!;
        const deadline = Date.now() + query.waitSeconds * 1000;
        const vm = await this.tunnels.waitForRunningVm(name, query.waitSeconds);
        handshake();
        const exec = await this.launch(vm, this.shellSpec(spec), deadline, caller, {
          command: spec.command,
          execSession: id,
        });
        const created: ExecSession = new ExecSession(exec, {
          id,
          interactive: spec.interactive,
          tty: spec.tty,
          retentionMs: this.config.execSessionRetentionMs,
          ...(query.detachTimeoutSeconds !== undefined ? { detachTimeoutMs: query.detachTimeoutSeconds * 1000 } : {}),
          onClosed: (s) => {
            this.sessions.delete(s);
            this.registry.remove(name, id, s);
            this.replicas.releaseExecSession(name, id);
          },
        });
        this.sessions.add(created);
        return created;
      })
      .catch((err: unknown) => {
        if (!this.registry.has(name, id)) {
          this.replicas.releaseExecSession(name, id);
        }
        throw err;
      });
    this.accept(request, handshake(), session);
  }

  /**
   * Reconnectable sessions live in the memory of the replica that started them. A request for one this replica does
   * not have goes to the live replica that does (claiming the id for this replica first when the request may start
   * it, so that two replicas never run the same session); true when the request was forwarded. A request another
   * replica forwarded is never forwarded again.
   */
  private async forwardedToOwner(
    name: string,
    id: string,
    mayStart: boolean,
    request: IncomingMessage,
    handshake: () => PendingUpgrade,
  ): Promise<boolean> {
    if (this.registry.has(name, id) || request.headers[FORWARDED_BY_HEADER] !== undefined) {
      return false;
    }
    const owner = mayStart
      ? await this.replicas.claimExecSession(name, id)
      : await this.replicas.execSessionOwner(name, id);
    if (!owner) {
      return false;
    }
    const pending = handshake();
    this.forwarder.forward(request, pending.socket, owner, this.replicas.name);
    return true;
  }

  /**
   * `POST /v1/vms/{name}/exec`, up to the start of the command: throws DomainErrors (HTTP errors) until the worker
   * started it. `signal` aborts when the client leaves.
   */
  async startCommand(name: string, body: ExecRequestDto, caller: ExecCaller, signal: AbortSignal): Promise<RemoteExec> {
    let stdin: Buffer | undefined;
    if (body.stdin !== undefined) {
      if (body.stdinEncoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(body.stdin.replace(/\s+/g, ''))) {
        throw DomainError.invalid([{ field: 'stdin', message: 'stdin is not valid base64' }]);
      }
      stdin = Buffer.from(body.stdin, body.stdinEncoding === 'base64' ? 'base64' : 'utf8');
    }
    this.refuseWhenShuttingDown();
    const waitSeconds = body.wait ?? 10;
    const deadline = Date.now() + waitSeconds * 1000;
    const vm = await this.tunnels.waitForRunningVm(name, waitSeconds);
    const argv = [body.command, ...(body.args ?? [])];
    const exec = await this.launch(
      vm,
      {
        argv,
        interactive: stdin !== undefined,
        tty: false,
        ...(body.env ? { env: body.env } : {}),
        ...(body.workdir ? { workdir: body.workdir } : {}),
      },
      deadline,
      caller,
      { argv },
      signal,
    );
    if (stdin !== undefined) {
      exec.writeStdin(stdin);
      exec.endStdin();
    }
    return exec;
  }

  /**
   * Streams a started command's events to an HTTP response as NDJSON (the response's head must not be sent yet) until
   * it ends; the client leaving kills it, and so does `timeoutSeconds` (> 0) running out.
   */
  streamCommand(exec: RemoteExec, res: ServerResponse, timeoutSeconds: number): void {
    this.runs.add(exec);
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    let paused = false;
    const write = (event: ExecEvent): void => {
      if (!res.writable) {
        return;
      }
      if (!res.write(`${JSON.stringify(event)}\n`) && !paused) {
        // The client reads slowly: let the command wait (HTTP/2 flow control to the worker) until it caught up.
        paused = true;
        exec.pause();
        res.once('drain', () => {
          paused = false;
          exec.resume();
        });
      }
    };
    write({ event: 'started', via: exec.via as 'agent' | 'ssh' });
    const encoders = { stdout: new OutputEventEncoder('stdout'), stderr: new OutputEventEncoder('stderr') };
    const onOutput = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
      const event = encoders[stream].push(data);
      if (event) {
        write(event);
      }
    };
    exec.on('stdout', onOutput('stdout'));
    exec.on('stderr', onOutput('stderr'));
    const timer =
      timeoutSeconds > 0
        ? setTimeout(
            () => exec.kill(`the command did not finish within its timeout of ${timeoutSeconds} s and was killed`),
            timeoutSeconds * 1000,
          )
        : undefined;
    const onClose = () => {
      if (!res.writableFinished) {
        exec.kill('the client closed the exec request');
      }
    };
    res.once('close', onClose);
    void exec.done.then((end) => {
      clearTimeout(timer);
      this.runs.delete(exec);
      for (const encoder of [encoders.stdout, encoders.stderr]) {
        const rest = encoder.flush();
        if (rest) {
          write(rest);
        }
      }
      write('exitCode' in end ? { event: 'exit', code: end.exitCode } : { event: 'error', message: end.error });
      res.end();
    });
  }

  private refuseWhenShuttingDown(): void {
    if (this.shuttingDown) {
      throw new DomainError(DomainErrorCode.Unavailable, SHUTDOWN);
    }
  }

  /** What the WebSocket endpoint runs: Orchard's `command` through `/bin/sh -c`. */
  private shellSpec(spec: ExecCommandSpec): ExecSpec {
    return {
      argv: ['/bin/sh', '-c', spec.command],
      interactive: spec.interactive,
      tty: spec.tty,
      ...(spec.rows !== undefined ? { rows: spec.rows, cols: spec.cols } : {}),
      ...(Object.keys(spec.env).length > 0 ? { env: spec.env } : {}),
      ...(spec.workdir !== undefined ? { workdir: spec.workdir } : {}),
    };
  }

  /** Starts a command through the VM's worker and arranges its audit record; maps start failures to 503. */
  private async launch(
    vm: Vm,
    spec: ExecSpec,
    deadline: number,
    caller: ExecCaller,
    what: { command?: string; argv?: string[]; execSession?: string },
    signal?: AbortSignal,
  ): Promise<RemoteExec> {
    const setupStartedAt = performance.now();
    const trace = this.traces.start(
      'exec',
      'exec',
      { vm, worker: vm.worker, traceparent: caller.traceparent },
      { 'grove.exec.endpoint': what.argv ? 'http' : 'websocket' },
    );
    let exec: RemoteExec;
    try {
      exec = await this.launcher.start(vm, spec, {
        timeoutMs: Math.max(deadline - Date.now(), MIN_WORKER_WAIT_MS),
        ...(signal ? { signal } : {}),
        ...(trace ? { traceparent: trace.traceparent } : {}),
      });
    } catch (err) {
      trace?.refused(err);
      if (err instanceof TunnelUnavailableError) {
        throw new DomainError(DomainErrorCode.Unavailable, `cannot reach worker "${vm.worker}": ${err.message}`);
      }
      if (err instanceof ExecStartError) {
        throw new DomainError(
          DomainErrorCode.Unavailable,
          `cannot start the command in VM "${vm.name}": ${err.message}`,
        );
      }
      throw err;
    }
    const startedAt = new Date();
    const ended = this.metrics.started('exec', setupStartedAt);
    trace?.established({ 'grove.session.id': exec.session, 'grove.exec.via': exec.via });
    void exec.done.then((end) => {
      const bytes = { toTarget: exec.bytesIn, fromTarget: exec.bytesOut };
      ended('exitCode' in end ? 'ok' : 'error', bytes);
      trace?.ended(
        'exitCode' in end ? 'ok' : 'error',
        bytes,
        'exitCode' in end ? { attributes: { 'grove.exec.exit_code': end.exitCode } } : { error: end.error },
      );
      this.record(exec, end, vm, spec, caller, what, startedAt);
    });
    return exec;
  }

  private accept(request: IncomingMessage, upgrade: PendingUpgrade, session: ExecSession): void {
    if (upgrade.socket.destroyed) {
      if (!session.reconnectable) {
        session.close();
      }
      return;
    }
    this.wss.handleUpgrade(request, upgrade.socket, NO_HEAD, (ws: WebSocket) => {
      ws.on('error', (err) => this.logger.debug(`exec WebSocket error: ${err.message}`));
      const subscriber = session.attach(execSocket(ws));
      if (!subscriber) {
        return;
      }
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        // Orchard ignores everything but text messages.
        if (!isBinary) {
          session.receive(subscriber, data.toString('utf8'));
        }
      });
      const stopPinging = keepWebSocketAlive(ws, CLIENT_PING_INTERVAL_MS);
      ws.once('close', () => {
        stopPinging();
        session.detach(subscriber);
      });
    });
  }

  private record(
    exec: RemoteExec,
    end: ExecEnd,
    vm: Vm,
    spec: ExecSpec,
    caller: ExecCaller,
    what: { command?: string; argv?: string[]; execSession?: string },
    startedAt: Date,
  ): void {
    const endedAt = new Date();
    const record: ExecAuditRecord = {
      type: 'exec',
      session: exec.session,
      ...(what.execSession !== undefined ? { execSession: what.execSession } : {}),
      endpoint: what.argv ? 'http' : 'websocket',
      account: caller.account.name,
      remoteAddress: caller.remoteAddress,
      vm: vm.name,
      vmUid: vm.uid,
      worker: vm.worker,
      ...(what.command !== undefined ? { command: what.command } : {}),
      ...(what.argv ? { argv: what.argv } : {}),
      via: exec.via,
      tty: spec.tty,
      interactive: spec.interactive || spec.tty,
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      durationMs: endedAt.getTime() - startedAt.getTime(),
      bytesIn: exec.bytesIn,
      bytesOut: exec.bytesOut,
      ...('exitCode' in end ? { exitCode: end.exitCode } : { error: end.error }),
    };
    this.auditRecorder.record(record, vm, endedAt);
  }
}
