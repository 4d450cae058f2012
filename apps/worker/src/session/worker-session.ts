import { EventEmitter } from 'node:events';
import {
  credentials as grpcCredentials,
  Metadata,
  status as GrpcStatus,
  type Client,
  type ClientDuplexStream,
} from '@grpc/grpc-js';
import { GroveClient } from '@grove/client';
import {
  workerServiceClient,
  WORKER_CAPABILITY_TUNNEL_GUEST_AGENT,
  WORKER_PROTOCOL_VERSION,
  SESSION_CAPABILITY_LINK_END_NOTICE,
  type ControllerMessage__Output,
  type WorkerMessage,
} from '@grove/proto';
import { GRPC_CLIENT_FLOW_CONTROL } from '@grove/tunnel';
import {
  GROVE_VERSION,
  WORKER_CAPABILITY_VM_ENDPOINTS,
  WORKER_CAPABILITY_VM_EXPOSED_PORTS,
  type Worker,
} from '@grove/resources';
import { INITIAL_RECONNECT_STATE, nextReconnect, type SessionOutcome } from './backoff';
import { failureOutcome, SessionStreamError } from './session-outcome';
import { LinkPool } from './link-pool';
import { TunnelPool, type PortForwardOpenFrame, type TunnelClientCall, type TunnelOpenFrame } from './tunnel-pool';

/** Who the worker is, as it registers with the controller. */
export interface WorkerIdentity {
  name: string;
  machineId: string;
  labels: Record<string, string>;
  resources: Record<string, number>;
  defaultCpu: number;
  defaultMemory: number;
  runtime: Worker['runtime'];
  arch: Worker['arch'];
  /** Capabilities this worker has besides those of every worker of this version (`host-processes` unless turned off). */
  capabilities?: readonly string[];
}

export interface SessionOptions {
  controllerUrl: string;
  serviceAccountName: string;
  serviceAccountToken: string;
  certificatePem?: string;
  identity: WorkerIdentity;
  heartbeatIntervalMs?: number;
  log: (line: string) => void;
}

type Stream = ClientDuplexStream<WorkerMessage, ControllerMessage__Output>;

/** The generic grpc-js client of the WorkerService, with its two methods. */
type WorkerServiceClient = Client & {
  Session(metadata: Metadata): Stream;
  Tunnel(metadata: Metadata): TunnelClientCall;
};

/** What one attempt got to, filled in by `runOnce` as it goes. */
interface AttemptProgress {
  /** When the controller's Welcome arrived. */
  welcomedAt?: number;
  /** The reason of the controller's GoingAway, when it sent one. */
  goingAway?: string;
}

/** The same failure is logged again after this long at the latest, with how often it happened meanwhile. */
const REPEATED_FAILURE_LOG_MS = 60_000;

/**
 * The worker's connection to its controller: register over REST, open the gRPC session, answer pings, send
 * heartbeats, and start over whenever anything breaks, after a delay that depends on how it broke (backoff.ts). A
 * lost stream restarts the session, never the process. Both sides ping; a controller silent for three ping intervals
 * is given up on; a controller that says it is going away is left at once for a new session, while the tunnels in use
 * on its connection run until they end. Emits `connected`, `disconnected` (with the reason), `sync` (the controller
 * asks for a reconciliation), `resolveIp` (`{session, vmUid}` and a `reply({ip} | {error})` function) and `tunnel` (an
 * open frame and the Tunnel call the controller started using, from the pool of idle tunnels this session keeps) and
 * `link` (an open frame, the raw link socket a port-forward session took, from the session's idle links, and, when the
 * controller takes them, a function that announces the clean end of the link's data: LinkEnded).
 */
export class WorkerSession extends EventEmitter {
  private readonly client: GroveClient;
  private stopped = false;
  private stream: Stream | undefined;
  private wake: (() => void) | undefined;
  private rtt: number | undefined;
  /** The idle tunnels of the session that is up, if one is. */
  private pool: TunnelPool | undefined;
  /** The idle raw links of the session that is up, if one is. */
  private links: LinkPool | undefined;
  /** The last failure logged, to keep a controller that is down for an hour from filling the log every second. */
  private lastFailure: { line: string; loggedAt: number; repeats: number } | undefined;

  constructor(private readonly options: SessionOptions) {
    super();
    this.client = new GroveClient({
      url: options.controllerUrl,
      serviceAccountName: options.serviceAccountName,
      serviceAccountToken: options.serviceAccountToken,
      certificatePem: options.certificatePem,
    });
  }

  /** Runs until `stop()`. */
  async run(): Promise<void> {
    let state = INITIAL_RECONNECT_STATE;
    while (!this.stopped) {
      const { outcome, reason } = await this.attempt();
      if (this.stopped) {
        break;
      }
      const next = nextReconnect(state, outcome);
      state = next.state;
      const delay = `${(next.delayMs / 1000).toFixed(2)} s`;
      if (outcome.kind === 'goingAway') {
        this.options.log(`the controller is going away (${reason}): opening a new session in ${delay}`);
      } else {
        this.logFailure(reason, `reconnecting in ${delay}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, next.delayMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One session from register to its end; says how it ended, for the reconnect policy and the log. */
  private async attempt(): Promise<{ outcome: SessionOutcome; reason: string }> {
    const progress: AttemptProgress = {};
    let error: unknown;
    try {
      await this.runOnce(progress);
    } catch (err) {
      error = err;
    }
    if (progress.goingAway !== undefined) {
      this.emit('disconnected', `the controller is going away (${progress.goingAway})`);
      return { outcome: { kind: 'goingAway' }, reason: progress.goingAway };
    }
    const message = error === undefined ? 'the controller closed the session' : (error as Error).message;
    if (!this.stopped) {
      this.emit('disconnected', message);
    }
    if (progress.welcomedAt !== undefined) {
      return {
        outcome: { kind: 'sessionEnded', lastedMs: Date.now() - progress.welcomedAt },
        reason: `session ended: ${message}`,
      };
    }
    return {
      outcome: error === undefined ? { kind: 'refused' } : failureOutcome(error),
      reason: `cannot open a session: ${message}`,
    };
  }

  /** Logs a failure, but the same one again only once a minute, with how many times it happened in between. */
  private logFailure(reason: string, next: string): void {
    const now = Date.now();
    const last = this.lastFailure;
    if (last?.line === reason && now - last.loggedAt < REPEATED_FAILURE_LOG_MS) {
      last.repeats++;
      return;
    }
    const repeats =
      last?.line === reason && last.repeats > 0 ? ` (${last.repeats} more times since it was logged)` : '';
    this.options.log(`${reason}${repeats}; ${next}`);
    this.lastFailure = { line: reason, loggedAt: now, repeats: 0 };
  }

  /** Smallest ping round trip to the controller seen so far, in ms (tunnel flow control starts from it). */
  get minRttMs(): number | undefined {
    return this.rtt;
  }

  /** Idle tunnels the current session keeps open now (the worker's metrics). */
  get idleTunnels(): number {
    return this.pool?.idleCount ?? 0;
  }

  /** Idle raw links the current session keeps open now. */
  get idleLinks(): number {
    return this.links?.idleCount ?? 0;
  }

  /** Whether `stop()` was called: the worker is shutting down. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** The REST client of this session's credentials, for the rest of the worker to share. */
  get api(): GroveClient {
    return this.client;
  }

  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
    this.wake?.();
  }

  /**
   * Registers, opens the session and serves it; resolves when the controller ends the stream or says it is going away
   * (then `progress.goingAway` is set), rejects on any failure.
   */
  private async runOnce(progress: AttemptProgress): Promise<void> {
    const { identity } = this.options;
    await this.client.workers.create({
      name: identity.name,
      machine_id: identity.machineId,
      labels: identity.labels,
      resources: identity.resources,
      defaultCPU: identity.defaultCpu,
      defaultMemory: identity.defaultMemory,
      arch: identity.arch,
      runtime: identity.runtime,
      // Both runtimes pass netSoftnetExpose on (Tart as `--net-softnet-expose`), so the scheduler may place such VMs
      // here (orchard-2026.md §1.2.9); the reconciler listens for VM endpoints (§1.2.2); tunnels reach VMs' guest
      // agents (TunnelOpen.target, §1.2.4).
      capabilities: [
        WORKER_CAPABILITY_VM_EXPOSED_PORTS,
        WORKER_CAPABILITY_VM_ENDPOINTS,
        WORKER_CAPABILITY_TUNNEL_GUEST_AGENT,
        ...(identity.capabilities ?? []),
      ],
      last_seen: new Date().toISOString(),
    });
    const info = await this.client.controllerInfo();
    if (info.grpcPort === undefined) {
      throw new Error('the controller runs no worker-session listener (--listen-grpc off)');
    }
    const client = this.connectGrpc(info.grpcPort);
    const stream = client.Session(this.credentialsMetadata());
    this.stream = stream;
    if (this.stopped) {
      // Stopped while registering: `stop` found no stream to cancel.
      stream.cancel();
    }
    let pool: TunnelPool | undefined;
    let links: LinkPool | undefined;
    let pinger: NodeJS.Timeout | undefined;
    let lastHeard = Date.now();
    let nonce = 0;
    const pingSent = new Map<string, bigint>();
    const ping = () => {
      const id = String(++nonce);
      pingSent.clear();
      pingSent.set(id, process.hrtime.bigint());
      stream.write({ ping: { nonce: id } });
    };
    const heartbeat = setInterval(() => {
      this.client.workers
        .update(identity.name, { name: identity.name, last_seen: new Date().toISOString() })
        .catch((err: Error) => {
          this.options.log(`heartbeat failed: ${err.message}`);
          // A deleted worker must register again: end the session so that the loop does.
          if (/ 404/.test(err.message)) {
            stream.cancel();
          }
        });
    }, this.options.heartbeatIntervalMs ?? 15_000);
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (message: ControllerMessage__Output) => {
          lastHeard = Date.now();
          switch (message.kind) {
            case 'welcome': {
              const welcome = message.welcome!;
              const announcesLinkEnds = welcome.capabilities.includes(SESSION_CAPABILITY_LINK_END_NOTICE);
              progress.welcomedAt = Date.now();
              this.lastFailure = undefined;
              this.options.log(`connected to ${this.options.controllerUrl} (protocol ${welcome.protocol_version})`);
              const metadata = new Metadata();
              metadata.set('x-grove-worker-name', identity.name);
              metadata.set('x-grove-session-key', welcome.session_key);
              pool = new TunnelPool({
                open: () => client.Tunnel(metadata),
                idleTarget: welcome.idle_tunnels,
                onOpen: (open: TunnelOpenFrame, call: TunnelClientCall) => this.emit('tunnel', open, call),
                log: this.options.log,
              });
              this.pool = pool;
              links = new LinkPool({
                open: (signal) => this.client.workers.openTunnelLink(identity.name, welcome.session_key, signal),
                idleTarget: welcome.idle_tunnels,
                onOpen: (open: PortForwardOpenFrame, socket) =>
                  this.emit(
                    'link',
                    open,
                    socket,
                    // Not once the session stream is over: that controller no longer holds the link's session.
                    announcesLinkEnds
                      ? () => void (stream.writable && stream.write({ link_ended: { session: open.session } }))
                      : undefined,
                  ),
                log: this.options.log,
              });
              this.links = links;
              const interval = welcome.ping_interval_ms || 10_000;
              ping();
              pinger = setInterval(() => {
                if (Date.now() - lastHeard > 3 * interval) {
                  this.options.log('the controller stopped answering pings; reconnecting');
                  stream.cancel();
                  return;
                }
                ping();
              }, interval);
              this.emit('connected');
              break;
            }
            case 'ping':
              stream.write({ pong: { nonce: message.ping?.nonce ?? '0' } });
              break;
            case 'pong': {
              const sent = pingSent.get(message.pong?.nonce ?? '');
              if (sent !== undefined) {
                const rtt = Number(process.hrtime.bigint() - sent) / 1e6;
                this.rtt = Math.min(this.rtt ?? rtt, rtt);
              }
              break;
            }
            case 'open_tunnels':
              pool?.openMore(message.open_tunnels?.count ?? 0);
              break;
            case 'sync_vms':
              this.emit('sync');
              break;
            case 'going_away':
              // Leave now rather than when the controller closes the session: a new session (through a load balancer,
              // on another replica) is opened at once, while the tunnels in use keep their own calls on the old
              // connection until they end (client.close() below lets them finish).
              progress.goingAway = message.going_away?.reason || 'no reason given';
              resolve();
              stream.cancel();
              break;
            case 'resolve_ip': {
              const request = message.resolve_ip!;
              const reply = (result: { ip?: string; error?: string }) =>
                stream.write({ resolve_ip_result: { session: request.session, ip: '', error: '', ...result } });
              this.emit('resolveIp', { session: request.session, vmUid: request.vm_uid }, reply);
              break;
            }
            case undefined:
              break;
          }
        });
        stream.on('error', (err: Error & { code?: number; details?: string }) =>
          reject(new SessionStreamError(err.code ?? GrpcStatus.UNKNOWN, err.details || err.message)),
        );
        stream.on('end', () => resolve());
        stream.write({
          hello: {
            worker_name: identity.name,
            protocol_version: WORKER_PROTOCOL_VERSION,
            capabilities: [SESSION_CAPABILITY_LINK_END_NOTICE],
            worker_version: GROVE_VERSION,
          },
        });
      });
    } finally {
      clearInterval(heartbeat);
      clearInterval(pinger);
      pool?.stop();
      this.pool = undefined;
      links?.stop();
      this.links = undefined;
      this.stream = undefined;
      // Tunnels in use ride this connection too; closing the client lets them finish while no new call starts.
      client.close();
    }
  }

  private connectGrpc(grpcPort: number): WorkerServiceClient {
    const url = new URL(this.options.controllerUrl);
    const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
    const pinned = this.options.certificatePem !== undefined;
    const credentials =
      url.protocol === 'https:'
        ? grpcCredentials.createSsl(pinned ? Buffer.from(this.options.certificatePem!) : null)
        : grpcCredentials.createInsecure();
    // A pinned self-signed certificate names `grove-controller`, whatever address the worker dials.
    const channelOptions = pinned ? { 'grpc.ssl_target_name_override': 'grove-controller' } : {};
    const Client = workerServiceClient();
    return new Client(`${host}:${grpcPort}`, credentials, {
      ...channelOptions,
      ...GRPC_CLIENT_FLOW_CONTROL,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    }) as unknown as WorkerServiceClient;
  }

  private credentialsMetadata(): Metadata {
    const metadata = new Metadata();
    const basic = Buffer.from(`${this.options.serviceAccountName}:${this.options.serviceAccountToken}`).toString(
      'base64',
    );
    metadata.set('authorization', `Basic ${basic}`);
    return metadata;
  }
}
