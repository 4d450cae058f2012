import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { ServiceAccount, Vm } from '@grove/resources';
import { configureTunnelSocket, TunnelEndpoint, type TunnelOutcome } from '@grove/tunnel';
import { closeWebSocket, HALF_CLOSE_PROTOCOL, webSocketStream } from '@grove/client';
import { WebSocketServer, type WebSocket } from 'ws';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { VmChangeBus } from '../vms/vm-change-bus';
import { VmService } from '../vms/vm.service';
import { WorkerService } from '../workers/worker.service';
import { IpResolutionError, IpResolver } from '../worker-sessions/ip-resolver';
import { TunnelBroker, TunnelUnavailableError, type TunnelCall } from '../worker-sessions/tunnel-broker';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';
import { pendingUpgrade, type PendingUpgrade } from './websocket-upgrade';

/** Largest WebSocket message a client may send; the CLI sends at most 64 KiB, Orchard's client 32 KiB. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** The controller pings port-forward clients this often and drops one that missed a pong (Orchard: 30 s). */
const CLIENT_PING_INTERVAL_MS = 30_000;
/** A worker gets at least this long to hand over a tunnel or an address, even with `wait=0`. */
const MIN_WORKER_WAIT_MS = 5_000;

/** What a port-forward request asks for. */
export interface PortForwardRequest {
  target: { kind: 'vm'; name: string } | { kind: 'worker'; name: string };
  port: number;
  waitSeconds: number;
  account: ServiceAccount;
  request: IncomingMessage;
  /** The client's address, for the audit record. */
  remoteAddress: string;
}

/** The audit record of one tunnel session (logged as JSON, and stored as an `audit` event of the VM). */
export interface TunnelAuditRecord {
  type: 'port-forward';
  session: string;
  account: string;
  remoteAddress: string;
  vm?: string;
  vmUid?: string;
  worker: string;
  port: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  result: TunnelOutcome['result'];
  error?: string;
}

function clipCloseReason(text: string): string {
  // A close frame's reason is at most 123 bytes of UTF-8.
  let out = text;
  while (Buffer.byteLength(out) > 123) {
    out = out.slice(0, -2) + '…';
  }
  return out;
}

function isWebSocketHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    (req.headers['sec-websocket-version'] === '13' || req.headers['sec-websocket-version'] === '8')
  );
}

/**
 * User sessions through worker tunnels: waits until the VM runs, takes one of its worker's idle tunnels, accepts
 * the WebSocket and moves bytes between the two until either side ends; then writes the audit record. Status codes
 * follow Orchard's (400, 404, 408 not running in time, 417 failed VM) except that an unreachable worker is a
 * deliberate 503 rather than Orchard's late, empty 500.
 */
@Injectable()
export class TunnelSessionService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('TunnelSessions');
  private readonly audit = new Logger('Audit');
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (protocols: Set<string>) => (protocols.has(HALF_CLOSE_PROTOCOL) ? HALF_CLOSE_PROTOCOL : false),
  });
  private readonly active = new Set<TunnelEndpoint>();

  constructor(
    private readonly vms: VmService,
    private readonly changes: VmChangeBus,
    private readonly workers: WorkerService,
    private readonly broker: TunnelBroker,
    private readonly registry: WorkerSessionRegistry,
    private readonly ips: IpResolver,
  ) {}

  /** Sessions in progress (for tests and diagnostics). */
  get activeSessions(): number {
    return this.active.size;
  }

  /** Before the HTTP server closes: it would otherwise wait for the open WebSockets, which wait for it. */
  beforeApplicationShutdown(): void {
    for (const endpoint of [...this.active]) {
      endpoint.abort('the controller is shutting down');
    }
    this.wss.close();
  }

  /**
   * The VM once it is running, waiting up to `waitSeconds` for it: 404 when it does not exist, 417 when it failed,
   * 408 when it is not running in time.
   */
  async waitForRunningVm(name: string, waitSeconds: number): Promise<Vm> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const vm = await this.vms.get(name);
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
    if (!upgrade || !isWebSocketHandshake(req.request)) {
      throw new DomainError(
        DomainErrorCode.InvalidInput,
        'this endpoint needs a WebSocket handshake (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13)',
      );
    }
    const deadline = Date.now() + req.waitSeconds * 1000;
    let workerName: string;
    let vm: Vm | undefined;
    if (req.target.kind === 'vm') {
      vm = await this.waitForRunningVm(req.target.name, req.waitSeconds);
      workerName = vm.worker;
    } else {
      workerName = (await this.workers.get(req.target.name)).name;
    }
    const gone = new AbortController();
    const onGone = () => gone.abort();
    upgrade.socket.once('close', onGone);
    let call: TunnelCall;
    try {
      call = await this.broker.take(workerName, Math.max(deadline - Date.now(), MIN_WORKER_WAIT_MS), gone.signal);
    } catch (err) {
      if (err instanceof TunnelUnavailableError) {
        throw new DomainError(DomainErrorCode.Unavailable, `cannot reach worker "${workerName}": ${err.message}`);
      }
      throw err;
    } finally {
      upgrade.socket.off('close', onGone);
    }
    const session = randomUUID();
    const target = vm ? `VM "${vm.name}"` : `worker "${workerName}"`;
    call.write({ kind: 'open', session, vmUid: vm?.uid ?? '', port: req.port });
    this.accept(req, upgrade, call, {
      session,
      workerName,
      vm,
      describe: `${target} port ${req.port}`,
    });
  }

  private accept(
    req: PortForwardRequest,
    upgrade: PendingUpgrade,
    call: TunnelCall,
    info: { session: string; workerName: string; vm: Vm | undefined; describe: string },
  ): void {
    const startedAt = new Date();
    let upgraded = false;
    const clientGone = () => {
      if (!upgraded) {
        call.write({ kind: 'error', message: 'the client went away during the handshake' });
        call.end();
      }
    };
    if (upgrade.socket.destroyed) {
      clientGone();
      return;
    }
    upgrade.socket.once('close', clientGone);
    this.wss.handleUpgrade(req.request, upgrade.socket, upgrade.head, (ws: WebSocket) => {
      upgraded = true;
      configureTunnelSocket(upgrade.socket as Socket);
      const local = webSocketStream(ws);
      const endpoint = new TunnelEndpoint({
        link: call,
        local,
        halfClose: ws.protocol === HALF_CLOSE_PROTOCOL,
        minRttMs: () => this.registry.get(info.workerName)?.minRttMs,
        linkLostMessage: 'the connection to the worker was lost',
        // A client that does not answer the close (it stopped reading) is cut off after a grace period.
        abortLocal: (message) => closeWebSocket(ws, 1011, clipCloseReason(message)),
      });
      this.active.add(endpoint);
      const stopPinging = this.keepAlive(ws);
      void endpoint.done.then((outcome) => {
        stopPinging();
        this.active.delete(endpoint);
        this.record(req, info, startedAt, outcome);
      });
    });
  }

  /** Pings the client; one that does not answer within an interval is cut off (idle proxies drop silent sockets). */
  private keepAlive(ws: WebSocket): () => void {
    let alive = true;
    ws.on('pong', () => (alive = true));
    const timer = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, CLIENT_PING_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  private record(
    req: PortForwardRequest,
    info: { session: string; workerName: string; vm: Vm | undefined },
    startedAt: Date,
    outcome: TunnelOutcome,
  ): void {
    const endedAt = new Date();
    const record: TunnelAuditRecord = {
      type: 'port-forward',
      session: info.session,
      account: req.account.name,
      remoteAddress: req.remoteAddress,
      ...(info.vm ? { vm: info.vm.name, vmUid: info.vm.uid } : {}),
      worker: info.workerName,
      port: req.port,
      startedAt: startedAt.toISOString(),
      endedAt: endedAt.toISOString(),
      durationMs: endedAt.getTime() - startedAt.getTime(),
      bytesToTarget: outcome.bytesSent,
      bytesFromTarget: outcome.bytesReceived,
      result: outcome.result,
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    this.audit.log(JSON.stringify(record));
    if (info.vm) {
      const vm = info.vm;
      this.vms
        .appendEventsIfCurrent(vm.name, vm.uid, [
          { kind: 'audit', timestamp: Math.floor(endedAt.getTime() / 1000), payload: JSON.stringify(record) },
        ])
        .catch((err: Error) => this.logger.warn(`cannot store the audit event of VM "${vm.name}": ${err.message}`));
    }
  }
}
