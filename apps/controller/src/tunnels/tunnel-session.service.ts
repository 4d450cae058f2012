import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { ServiceAccount, Vm } from '@grove/resources';
import { encodeTunnelFrame, type TunnelFrame } from '@grove/proto';
import { configureTunnelSocket, TunnelEndpoint, type TunnelOutcome } from '@grove/tunnel';
import { HALF_CLOSE_PROTOCOL, linkOpenHeader, webSocketStream } from '@grove/client';
import { WebSocketServer, type WebSocket } from 'ws';
import { CONSOLE_PROTOCOL, selectProtocol } from '../common/auth/websocket-credentials';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { SessionMetrics, tunnelSessionKind, type SessionEnd } from '../metrics/session-metrics';
import { SessionTraces, traceparentOf, type SessionTrace } from '../telemetry/session-traces';
import { VmChangeBus } from '../vms/vm-change-bus';
import { AuditRecorder } from '../vms/audit-recorder';
import { VmService } from '../vms/vm.service';
import { WorkerService } from '../workers/worker.service';
import { IpResolutionError, IpResolver } from '../worker-sessions/ip-resolver';
import { TunnelBroker, TunnelUnavailableError, type TunnelLink } from '../worker-sessions/tunnel-broker';
import { TunnelLinkBroker, type TakenLink } from '../worker-sessions/tunnel-link-broker';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';
import {
  auditFields,
  checkDestinationDeclared,
  checkWorkerCapability,
  openFrame,
  type PortForwardDestination,
} from './port-forward-destination';
import {
  acceptRawClient,
  isRawTunnelRequest,
  tunnelEndpointFor,
  LinkSession,
  type AbortableSession,
  type AcceptedClient,
} from './link-session';
import { RunningVmCache } from './running-vm-cache';
import { tunnelAuditRecord, type TunnelAuditInfo, type TunnelAuditSubject } from './tunnel-audit';
import {
  isWebSocketHandshake,
  keepWebSocketAlive,
  NO_HEAD,
  pendingUpgrade,
  type PendingUpgrade,
} from './websocket-upgrade';

/** Largest WebSocket message a client may send; the CLI sends at most 64 KiB, Orchard's client 32 KiB. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** The controller pings port-forward clients this often and drops one that missed a pong (Orchard: 30 s). */
const CLIENT_PING_INTERVAL_MS = 30_000;
/** A worker gets at least this long to hand over a tunnel or an address, even with `wait=0`. */
const MIN_WORKER_WAIT_MS = 5_000;

/** What a port-forward session reaches: a VM, or the worker host itself. */
export type PortForwardTarget = { kind: 'vm'; name: string } | { kind: 'worker'; name: string };

/** What a port-forward request asks for. */
export interface PortForwardRequest {
  target: PortForwardTarget;
  to: PortForwardDestination;
  waitSeconds: number;
  account: ServiceAccount;
  request: IncomingMessage;
  /** The client's address, for the audit record. */
  remoteAddress: string;
}

/** A tunnel of a VM's worker that reached the VM's port: the worker answered `opened`. */
export interface OpenedVmTunnel {
  vm: Vm;
  workerName: string;
  session: string;
  port: number;
  call: TunnelLink;
  /** When its setup began (`performance.now()`), for the session metrics. */
  setupStartedAt: number;
}

/** How long a worker may take to answer `opened` or `error` after a tunnel was opened to a VM port. */
const OPEN_ANSWER_TIMEOUT_MS = 30_000;

/**
 * User sessions through worker tunnels: waits until the VM runs, takes one of its worker's idle tunnels, accepts
 * the WebSocket and moves bytes between the two until either side ends; then writes the audit record. Status codes
 * follow Orchard's (400, 404, 408 not running in time, 417 failed VM) except that an unreachable worker is a
 * deliberate 503 rather than Orchard's late, empty 500.
 */
@Injectable()
export class TunnelSessionService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('TunnelSessions');
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    // The half-close protocol when offered; the console's own otherwise, never its credentials (docs/console.md).
    handleProtocols: (protocols: Set<string>) => selectProtocol(protocols, [HALF_CLOSE_PROTOCOL, CONSOLE_PROTOCOL]),
  });
  private readonly active = new Set<AbortableSession>();

  constructor(
    private readonly vms: VmService,
    private readonly runningVms: RunningVmCache,
    private readonly changes: VmChangeBus,
    private readonly workers: WorkerService,
    private readonly broker: TunnelBroker,
    private readonly links: TunnelLinkBroker,
    private readonly registry: WorkerSessionRegistry,
    private readonly ips: IpResolver,
    private readonly auditRecorder: AuditRecorder,
    private readonly metrics: SessionMetrics,
    private readonly traces: SessionTraces,
  ) {}

  /** Sessions in progress (for tests and diagnostics). */
  get activeSessions(): number {
    return this.active.size;
  }

  /** Before the HTTP server closes (after the drain, if any): it would otherwise wait for the open WebSockets. */
  beforeApplicationShutdown(): void {
    for (const session of [...this.active]) {
      session.abort('the controller is shutting down');
    }
    this.wss.close();
  }

  /**
   * The VM once it is running, waiting up to `waitSeconds` for it: 404 when it does not exist, 417 when it failed,
   * 408 when it is not running in time. `check` sees the VM each time it is read and may refuse it by throwing.
   */
  async waitForRunningVm(name: string, waitSeconds: number, check?: (vm: Vm) => void): Promise<Vm> {
    const deadline = Date.now() + waitSeconds * 1000;
    // The first look from memory when the VM runs (issue 17: no database read on a session's setup); a VM that is not
    // running yet is read again at each change.
    let vm = await this.runningVms.find(name, (n) => this.vms.get(n));
    for (;;) {
      check?.(vm);
      if (vm.status === 'failed') {
        throw new DomainError(DomainErrorCode.ExpectationFailed, `VM is in a terminal state 'failed'`);
      }
      if (vm.status === 'running' && vm.worker) {
        return vm;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DomainError(
          DomainErrorCode.TimedOut,
          vm.worker
            ? `VM is not running on '${vm.worker}' worker`
            : `VM "${name}" is not running yet: it is ${vm.status} and not assigned to a worker`,
        );
      }
      await this.nextChange(name, Math.min(left, 1000));
      vm = await this.vms.get(name);
    }
  }

  /** Resolves at the VM's next change, or after `ms` (a fallback poll). */
  private nextChange(name: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = this.changes.subscribe(name, done);
    });
  }

  /** `GET /v1/vms/{name}/ip`: asks the VM's worker, retrying once a second until `wait` runs out. */
  async resolveIp(name: string, waitSeconds: number): Promise<string> {
    const deadline = Date.now() + waitSeconds * 1000;
    const vm = await this.waitForRunningVm(name, waitSeconds);
    for (;;) {
      const left = deadline - Date.now();
      try {
        return await this.ips.resolve(vm.worker, vm.uid, Math.max(left, MIN_WORKER_WAIT_MS));
      } catch (err) {
        if (!(err instanceof IpResolutionError || err instanceof TunnelUnavailableError)) {
          throw err;
        }
        if (deadline - Date.now() <= 1000) {
          const reason = err instanceof IpResolutionError ? `worker "${vm.worker}" could not resolve it: ` : '';
          throw new DomainError(DomainErrorCode.Unavailable, `no IP address for VM "${name}": ${reason}${err.message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /**
   * Handles a port-forward handshake. Throws DomainErrors (answered as HTTP errors) until it accepts the WebSocket;
   * after that, failures end the WebSocket with code 1011 and the reason.
   */
  async portForward(req: PortForwardRequest): Promise<void> {
    const upgrade = pendingUpgrade(req.request);
    const raw = upgrade !== undefined && isRawTunnelRequest(req.request);
    if (!upgrade || (!raw && !isWebSocketHandshake(req.request))) {
      throw new DomainError(
        DomainErrorCode.InvalidInput,
        'this endpoint needs a WebSocket handshake (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, ' +
          "Sec-WebSocket-Version: 13) or Grove's raw tunnel upgrade (Connection: Upgrade, Upgrade: grove-tunnel/1)",
      );
    }
    const deadline = Date.now() + req.waitSeconds * 1000;
    let workerName: string;
    let vm: Vm | undefined;
    if (req.target.kind === 'vm') {
      vm = await this.waitForRunningVm(req.target.name, req.waitSeconds, (found) =>
        checkDestinationDeclared(found, req.to),
      );
      workerName = vm.worker;
    } else {
      workerName = await this.existingWorker(req.target.name);
    }
    if (req.to.kind !== 'port') {
      checkWorkerCapability(await this.workers.get(workerName), vm?.name ?? '', req.to);
    }
    const setupStartedAt = performance.now();
    const destination = auditFields(req.to);
    const { port, target, hostProcess } = destination;
    const trace = this.traces.start(
      'port-forward',
      tunnelSessionKind(port),
      { vm, worker: workerName, traceparent: traceparentOf(req.request) },
      { 'grove.port': port || undefined, 'grove.target': target, 'grove.host_process': hostProcess },
    );
    const session = randomUUID();
    const open = openFrame(session, vm?.uid ?? '', req.to, trace?.traceparent);
    const info = { session, workerName, vm, setupStartedAt, ...destination };
    // A raw link of the worker when one is parked here: no framing on either hop (docs/tunnels.md "Raw byte streams").
    let onLost: (message: string) => void = () => undefined;
    const link = this.links.take(workerName, session, (message) => onLost(message));
    if (link) {
      const linkSession = this.overLink(req, upgrade, raw, link, encodeTunnelFrame(open), info, trace);
      onLost = (message) => linkSession.abort(message);
      return;
    }
    const gone = new AbortController();
    const onGone = () => gone.abort();
    upgrade.socket.once('close', onGone);
    let call: TunnelLink;
    try {
      call = await this.broker.take(workerName, Math.max(deadline - Date.now(), MIN_WORKER_WAIT_MS), gone.signal);
    } catch (err) {
      trace?.refused(err);
      if (err instanceof TunnelUnavailableError) {
        throw new DomainError(DomainErrorCode.Unavailable, `cannot reach worker "${workerName}": ${err.message}`);
      }
      throw err;
    } finally {
      upgrade.socket.off('close', onGone);
    }
    call.write(open);
    // HTTP/2 sends the open frame at the end of this event-loop turn, the 101 answer would leave at once: answering one
    // turn later lets the worker start connecting to the target while this side completes the handshake.
    setImmediate(() => this.accept(req, upgrade, raw, call, info, trace));
  }

  /** Runs a session over a worker's raw link: the open header and the 101 leave at once, bytes follow. */
  private overLink(
    req: PortForwardRequest,
    upgrade: PendingUpgrade,
    raw: boolean,
    link: TakenLink,
    open: Buffer,
    info: TunnelAuditInfo & { setupStartedAt: number },
    trace: SessionTrace | undefined,
  ): AbortableSession {
    // The open header first; whatever the client sent behind its request follows from the client's socket.
    link.socket.write(linkOpenHeader(open));
    const client = raw ? acceptRawClient(upgrade.socket as Socket, false) : this.acceptWebSocket(req, upgrade);
    if (!client) {
      link.socket.destroy();
      link.release();
      trace?.ended('error', { toTarget: 0, fromTarget: 0 }, { error: 'the client went away during the handshake' });
      return { abort: () => undefined };
    }
    const session = new LinkSession(client, link.socket, link.confirmEnd);
    const finish = this.started(req, info, trace, session);
    void session.done.then((outcome) => {
      link.release();
      finish(outcome);
    });
    return session;
  }

  /** Completes a WebSocket handshake now; undefined when the client already went away. */
  private acceptWebSocket(req: PortForwardRequest, upgrade: PendingUpgrade): AcceptedClient | undefined {
    if (upgrade.socket.destroyed) {
      return undefined;
    }
    let accepted: AcceptedClient | undefined;
    this.wss.handleUpgrade(req.request, upgrade.socket, NO_HEAD, (ws: WebSocket) => {
      configureTunnelSocket(upgrade.socket as Socket);
      const stream = webSocketStream(ws);
      const stopPinging = keepWebSocketAlive(ws, CLIENT_PING_INTERVAL_MS);
      ws.once('close', stopPinging);
      accepted = { kind: 'websocket', ws, stream, halfClose: ws.protocol === HALF_CLOSE_PROTOCOL };
    });
    return accepted;
  }

  /**
   * Counts a session that started (metrics, trace, the set of sessions ended at shutdown); returns what to call with
   * its outcome: the metrics, the trace's end and the audit record.
   */
  private started(
    req: PortForwardRequest,
    info: TunnelAuditInfo & { setupStartedAt: number },
    trace: SessionTrace | undefined,
    session: AbortableSession,
  ): (outcome: TunnelOutcome) => void {
    const startedAt = new Date();
    this.active.add(session);
    const ended = this.metrics.started(tunnelSessionKind(info.port), info.setupStartedAt);
    trace?.established({ 'grove.session.id': info.session });
    return (outcome) => {
      this.active.delete(session);
      countEnd(ended, outcome);
      trace?.ended(
        outcome.result === 'closed' ? 'ok' : 'error',
        { toTarget: outcome.bytesSent, fromTarget: outcome.bytesReceived },
        outcome.result === 'closed' ? {} : { error: outcome.error },
      );
      this.record(
        { type: 'port-forward', account: req.account.name, remoteAddress: req.remoteAddress },
        info,
        startedAt,
        outcome,
      );
    };
  }

  /**
   * The name of a worker a session may reach, 404 when there is none: from memory when the worker's session is held
   * here (it registered, issue 17), else from the database. A worker deleted while connected ends its session at its
   * next heartbeat (404) and registers again, so it stays reachable here until then, as its VMs do.
   */
  private async existingWorker(name: string): Promise<string> {
    return this.registry.isConnected(name) ? name : (await this.workers.get(name)).name;
  }

  /**
   * Accepts the client of a session over a gRPC tunnel (no raw link was parked): a WebSocket, or a raw client that gets
   * the status record when the worker answers `opened` (or the refusal), then the bytes.
   */
  private accept(
    req: PortForwardRequest,
    upgrade: PendingUpgrade,
    raw: boolean,
    call: TunnelLink,
    info: TunnelAuditInfo & { setupStartedAt: number },
    trace: SessionTrace | undefined,
  ): void {
    const client = upgrade.socket.destroyed
      ? undefined
      : raw
        ? acceptRawClient(upgrade.socket as Socket, true)
        : this.acceptWebSocket(req, upgrade);
    if (!client) {
      call.write({ kind: 'error', message: 'the client went away during the handshake' });
      call.end();
      trace?.ended('error', { toTarget: 0, fromTarget: 0 }, { error: 'the client went away during the handshake' });
      return;
    }
    const endpoint = tunnelEndpointFor(client, call, () => this.registry.get(info.workerName)?.minRttMs);
    const finish = this.started(req, info, trace, endpoint);
    void endpoint.done.then(finish);
  }

  /**
   * Opens a tunnel to a port of a VM for a stream that is not a WebSocket (the SSH gateway's `direct-tcpip`
   * channels): waits up to `waitSeconds` for the VM to run, takes a tunnel of its worker and waits for the worker to
   * reach the port. Throws DomainErrors: 404 unknown VM, 408 not running in time, 417 failed, and Unavailable when
   * the worker cannot be reached or cannot connect (its reason, e.g. connection refused). The caller then either
   * `attachVmTunnel`s a stream to it or `abandonVmTunnel`s it, in the same tick. `check` sees the VM each time it is
   * read, as `waitForRunningVm`'s.
   */
  async openVmPort(
    name: string,
    port: number,
    options: { waitSeconds: number; signal?: AbortSignal; check?: (vm: Vm) => void },
  ): Promise<OpenedVmTunnel> {
    const deadline = Date.now() + options.waitSeconds * 1000;
    const vm = await this.waitForRunningVm(name, options.waitSeconds, options.check);
    const setupStartedAt = performance.now();
    let call: TunnelLink;
    try {
      call = await this.broker.take(vm.worker, Math.max(deadline - Date.now(), MIN_WORKER_WAIT_MS), options.signal);
    } catch (err) {
      if (err instanceof TunnelUnavailableError) {
        throw new DomainError(DomainErrorCode.Unavailable, `cannot reach worker "${vm.worker}": ${err.message}`);
      }
      throw err;
    }
    const session = randomUUID();
    call.write({ kind: 'open', session, vmUid: vm.uid, port });
    await this.openAnswer(call, `VM "${vm.name}" port ${port}`, options.signal);
    return { vm, workerName: vm.worker, session, port, call, setupStartedAt };
  }

  /** Resolves at the worker's `opened` (leaving the call paused for the stream attached next), rejects otherwise. */
  private openAnswer(call: TunnelLink, target: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        call.off('data', onData);
        call.off('error', onLost);
        call.off('end', onLost);
        call.off('cancelled', onLost);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (message: string, tellWorker: boolean) => {
        cleanup();
        call.on('error', () => undefined);
        if (tellWorker) {
          call.write({ kind: 'error', message });
        }
        call.end();
        reject(new DomainError(DomainErrorCode.Unavailable, message));
      };
      const onData = (frame: TunnelFrame | undefined) => {
        if (frame?.kind === 'opened') {
          // Paused, so that no byte after `opened` is emitted before the next owner listens.
          call.pause();
          cleanup();
          resolve();
        } else if (frame?.kind === 'error') {
          fail(`cannot connect to ${target}: ${frame.message}`, false);
        }
      };
      const onLost = () => fail('the connection to the worker was lost', false);
      const onAbort = () => fail('the client went away', true);
      const timer = setTimeout(
        () => fail(`the worker did not connect to ${target} within ${OPEN_ANSWER_TIMEOUT_MS / 1000} s`, true),
        OPEN_ANSWER_TIMEOUT_MS,
      );
      call.on('data', onData);
      call.once('error', onLost);
      call.once('end', onLost);
      call.once('cancelled', onLost);
      signal?.addEventListener('abort', onAbort, { once: true });
      call.resume();
    });
  }

  /** Gives up an opened tunnel before any byte moved (the client went away); the worker closes its connection. */
  abandonVmTunnel(opened: OpenedVmTunnel, reason: string): void {
    opened.call.on('error', () => undefined);
    opened.call.write({ kind: 'error', message: reason });
    opened.call.end();
  }

  /**
   * Moves bytes between `local` and an opened tunnel until either side ends, then writes the audit record; resolves
   * with the outcome. Ended with every other session when the controller shuts down.
   */
  attachVmTunnel(
    opened: OpenedVmTunnel,
    local: Duplex,
    options: { subject: TunnelAuditSubject; halfClose: boolean; abortLocal?: (message: string) => void },
  ): Promise<TunnelOutcome> {
    const startedAt = new Date();
    const endpoint = new TunnelEndpoint({
      link: opened.call,
      local,
      halfClose: options.halfClose,
      minRttMs: () => this.registry.get(opened.workerName)?.minRttMs,
      linkLostMessage: 'the connection to the worker was lost',
      ...(options.abortLocal ? { abortLocal: options.abortLocal } : {}),
    });
    this.active.add(endpoint);
    const ended = this.metrics.started(tunnelSessionKind(opened.port), opened.setupStartedAt);
    return endpoint.done.then((outcome) => {
      this.active.delete(endpoint);
      countEnd(ended, outcome);
      this.record(options.subject, opened, startedAt, outcome);
      return outcome;
    });
  }

  private record(subject: TunnelAuditSubject, info: TunnelAuditInfo, startedAt: Date, outcome: TunnelOutcome): void {
    const endedAt = new Date();
    this.auditRecorder.record(tunnelAuditRecord(subject, info, startedAt, endedAt, outcome), info.vm, endedAt);
  }
}

/** Counts the end of a tunnel session with the bytes of its audit record. */
function countEnd(ended: SessionEnd, outcome: TunnelOutcome): void {
  ended(outcome.result === 'closed' ? 'ok' : 'error', {
    toTarget: outcome.bytesSent,
    fromTarget: outcome.bytesReceived,
  });
}
