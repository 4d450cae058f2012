import { randomBytes } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Metadata, Server, ServerCredentials, type ServerDuplexStream, status as GrpcStatus } from '@grpc/grpc-js';
import {
  replicaServiceDefinition,
  workerServiceDefinition,
  WORKER_PROTOCOL_VERSION,
  SESSION_CAPABILITY_LINK_END_NOTICE,
  type ControllerMessage,
  type WorkerMessage__Output,
} from '@grove/proto';
import { enlargeServerWindows } from '@grove/tunnel';
import { hasRoles, parseBasicAuth } from '../common/auth/auth.guard';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { isDatabaseUnavailable, isDatabaseBusy } from '../infra/database/database-availability';
import { GRPC_TLS, type GrpcTls } from '../infra/tls/grpc-tls';
import { ServiceAccountService } from '../service-accounts/service-account.service';
import { WorkerService } from '../workers/worker.service';
import { IpResolver } from './ip-resolver';
import { LinkEndNotices } from './link-end-notices';
import { RelayServer } from './relay.server';
import { TunnelLinkBroker } from './tunnel-link-broker';
import { TunnelBroker, type TunnelCall } from './tunnel-broker';
import { WorkerSessionRegistry, type WorkerSessionHandle } from './worker-session.registry';

/** Capabilities this controller offers on worker sessions; the session uses those both sides list. */
export const CONTROLLER_SESSION_CAPABILITIES: readonly string[] = [SESSION_CAPABILITY_LINK_END_NOTICE];

const HELLO_TIMEOUT_MS = 10_000;
/** Idle Tunnel streams each worker keeps open, so that this many sessions can start at once without waiting. */
export const IDLE_TUNNELS_PER_WORKER = 8;

type SessionCall = ServerDuplexStream<WorkerMessage__Output, ControllerMessage>;

class SessionError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The gRPC server workers dial (ARCHITECTURE.md decision 3): a plain grpc-js server on its own port, because it
 * needs HTTP/2 next to Fastify's HTTP/1.1 and full control of flow control later, for tunnels.
 */
@Injectable()
export class WorkerGrpcServer implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerGrpcServer.name);
  private server: Server | undefined;
  private boundPort: number | undefined;
  /** Set when shutdown begins: new sessions are refused, so that workers told to go away do not come back here. */
  private draining = false;

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    @Inject(GRPC_TLS) private readonly tls: GrpcTls,
    private readonly accounts: ServiceAccountService,
    private readonly workers: WorkerService,
    private readonly registry: WorkerSessionRegistry,
    private readonly tunnels: TunnelBroker,
    private readonly links: TunnelLinkBroker,
    private readonly ips: IpResolver,
    private readonly relay: RelayServer,
  ) {}

  /** The port actually bound (useful with port 0), or undefined when the listener is off. */
  get port(): number | undefined {
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    const listen = this.config.grpcListen;
    if (!listen) {
      await this.relay.joinCluster(undefined);
      return;
    }
    const server = new Server({
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // Workers keep several tunnels per session; a session with hundreds of users needs hundreds of streams.
      'grpc.max_concurrent_streams': 4096,
    });
    enlargeServerWindows(server);
    server.addService(workerServiceDefinition(), {
      Session: (call: SessionCall) => void this.handleSession(call),
      Tunnel: (call: TunnelCall) => this.tunnels.accept(call),
    });
    // Other controller replicas relay sessions for workers connected here over the same port.
    server.addService(replicaServiceDefinition(), this.relay.handlers());
    const credentials = this.tls
      ? ServerCredentials.createSsl(null, [
          { cert_chain: Buffer.from(this.tls.certPem), private_key: Buffer.from(this.tls.keyPem) },
        ])
      : ServerCredentials.createInsecure();
    const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${listen.port}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    await this.relay.joinCluster(this.boundPort);
  }

  /**
   * First step of shutdown: every worker is told to open a new session right away (through a load balancer it reaches
   * another replica), while the tunnels in use on its connection go on until the sessions close.
   */
  beforeApplicationShutdown(): void {
    this.draining = true;
    const told = this.registry.announceGoingAway('the controller is shutting down');
    if (told > 0) {
      this.logger.log(`told ${told} worker(s) to reconnect: the controller is shutting down`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.draining = true;
    this.registry.closeAll('the controller is shutting down');
    this.tunnels.closeAll();
    const server = this.server;
    if (!server) {
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 2000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async authorise(metadata: Metadata): Promise<void> {
    const header = metadata.get('authorization')[0];
    const credentials = parseBasicAuth(typeof header === 'string' ? header : undefined);
    if (!credentials) {
      throw new SessionError(GrpcStatus.UNAUTHENTICATED, 'authentication required: send "authorization: Basic …"');
    }
    const account = await this.accounts.authenticate(credentials.name, credentials.token).catch((err: unknown) => {
      // A database outage is no bug: UNAVAILABLE, which the worker retries, rather than INTERNAL with a stack.
      throw isDatabaseUnavailable(err) ? new SessionError(GrpcStatus.UNAVAILABLE, databaseUnavailableText(err)) : err;
    });
    if (!account) {
      throw new SessionError(GrpcStatus.UNAUTHENTICATED, 'invalid service account name or token');
    }
    if (!hasRoles(account, { kind: 'all', roles: ['compute:write'] })) {
      throw new SessionError(GrpcStatus.PERMISSION_DENIED, 'all of the following roles must be present: compute:write');
    }
  }

  /** Waits for the first message, which must be Hello. */
  private firstMessage(call: SessionCall): Promise<WorkerMessage__Output> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SessionError(GrpcStatus.DEADLINE_EXCEEDED, 'no Hello within 10 s')),
        HELLO_TIMEOUT_MS,
      );
      call.once('data', (message: WorkerMessage__Output) => {
        clearTimeout(timer);
        resolve(message);
      });
      call.once('end', () => {
        clearTimeout(timer);
        reject(new SessionError(GrpcStatus.CANCELLED, 'the worker ended the session before Hello'));
      });
    });
  }

  private async handleSession(call: SessionCall): Promise<void> {
    let session: WorkerSessionHandle | undefined;
    try {
      if (this.draining) {
        throw new SessionError(GrpcStatus.UNAVAILABLE, 'the controller is shutting down');
      }
      await this.authorise(call.metadata);
      const first = await this.firstMessage(call);
      if (first.kind !== 'hello' || !first.hello) {
        throw new SessionError(GrpcStatus.INVALID_ARGUMENT, 'the first message of a session must be Hello');
      }
      const hello = first.hello;
      if (hello.protocol_version < 1) {
        throw new SessionError(GrpcStatus.INVALID_ARGUMENT, `unsupported protocol version ${hello.protocol_version}`);
      }
      try {
        await this.workers.get(hello.worker_name);
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          throw new SessionError(GrpcStatus.UNAVAILABLE, databaseUnavailableText(err));
        }
        throw new SessionError(
          GrpcStatus.FAILED_PRECONDITION,
          `worker "${hello.worker_name}" is not registered: register it with POST /v1/workers first`,
        );
      }
      session = this.openSession(call, hello.worker_name, hello.capabilities);
      // Registered before Welcome: the worker opens tunnels with the key as soon as it reads Welcome.
      this.registry.register(session);
      call.write({
        welcome: {
          protocol_version: Math.min(hello.protocol_version, WORKER_PROTOCOL_VERSION),
          capabilities: CONTROLLER_SESSION_CAPABILITIES.filter((c) => hello.capabilities.includes(c)),
          ping_interval_ms: this.config.workerPingIntervalMs,
          session_key: session.sessionKey,
          idle_tunnels: IDLE_TUNNELS_PER_WORKER,
        },
      });
      // A first ping right away measures the round trip that tunnel flow control starts from.
      session.send({ ping: { nonce: '0' } });
      this.logger.log(`worker "${hello.worker_name}" connected (worker version ${hello.worker_version || 'unknown'})`);
    } catch (err) {
      const e = err instanceof SessionError ? err : new SessionError(GrpcStatus.INTERNAL, (err as Error).message);
      if (!(err instanceof SessionError)) {
        this.logger.error(`worker session failed: ${e.message}`, (err as Error).stack);
      }
      call.emit('error', { code: e.code, details: e.message });
      call.end();
      if (session) {
        this.registry.unregister(session);
      }
    }
  }

  /** Wires pings, pongs and liveness for an authorised session. */
  private openSession(call: SessionCall, workerName: string, capabilities: string[]): WorkerSessionHandle {
    let lastHeard = Date.now();
    let nonce = 0;
    let closed = false;
    const sentAt = new Map<string, bigint>();
    /** Probes waiting for a pong to a ping sent at or after `nonce`. */
    let probes: { nonce: number; resolve: (alive: boolean) => void }[] = [];
    const endProbes = () => {
      for (const probe of probes) {
        probe.resolve(false);
      }
      probes = [];
      notices?.close();
    };
    const handle: WorkerSessionHandle = {
      workerName,
      connectedAt: new Date(),
      sessionKey: randomBytes(24).toString('base64url'),
      minRttMs: undefined,
      send: (message) => {
        if (!closed) {
          if (message.ping) {
            sentAt.set(String(message.ping.nonce), process.hrtime.bigint());
          }
          call.write(message);
        }
      },
      close: (reason) => {
        if (closed) {
          return;
        }
        closed = true;
        clearInterval(pinger);
        endProbes();
        call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: reason });
        call.end();
      },
      probe: () =>
        new Promise<boolean>((resolve) => {
          if (closed) {
            resolve(false);
            return;
          }
          const sent = ++nonce;
          probes.push({ nonce: sent, resolve });
          handle.send({ ping: { nonce: String(sent) } });
        }),
    };
    const notices = capabilities.includes(SESSION_CAPABILITY_LINK_END_NOTICE)
      ? new LinkEndNotices(() => handle.probe!())
      : undefined;
    if (notices) {
      handle.confirmLinkEnd = (session) => notices.confirm(session);
    }
    const interval = this.config.workerPingIntervalMs;
    const pinger = setInterval(() => {
      if (Date.now() - lastHeard > 3 * interval) {
        const cut =
          this.tunnels.abortInUse(handle.sessionKey, 'the connection to the worker was lost') +
          this.links.abortInUse(handle.sessionKey, 'the connection to the worker was lost');
        this.logger.warn(
          `worker "${workerName}" stopped answering; closing its session` +
            (cut > 0 ? ` and ${cut} tunnel(s) in use` : ''),
        );
        handle.close('no message from the worker for three ping intervals');
        this.registry.unregister(handle);
        return;
      }
      handle.send({ ping: { nonce: String(++nonce) } });
    }, interval);
    pinger.unref();
    call.on('data', (message: WorkerMessage__Output) => {
      lastHeard = Date.now();
      if (message.kind === 'ping' && message.ping) {
        handle.send({ pong: { nonce: message.ping.nonce } });
      } else if (message.kind === 'pong' && message.pong) {
        const sent = sentAt.get(message.pong.nonce);
        sentAt.clear();
        const answered = Number(message.pong.nonce);
        if (probes.length > 0) {
          probes = probes.filter((probe) => (answered >= probe.nonce ? (probe.resolve(true), false) : true));
        }
        if (sent !== undefined) {
          const rtt = Number(process.hrtime.bigint() - sent) / 1e6;
          handle.minRttMs = Math.min(handle.minRttMs ?? rtt, rtt);
        }
      } else if (message.kind === 'link_ended' && message.link_ended) {
        notices?.announce(message.link_ended.session);
      } else if (message.kind === 'resolve_ip_result' && message.resolve_ip_result) {
        this.ips.answer(message.resolve_ip_result);
      }
    });
    const finish = () => {
      if (!closed) {
        closed = true;
        clearInterval(pinger);
        call.end();
      }
      endProbes();
      this.registry.unregister(handle);
    };
    call.on('end', finish);
    call.on('cancelled', finish);
    call.on('error', finish);
    return handle;
  }
}

/** Why a session is refused UNAVAILABLE for want of the database (the worker retries). */
function databaseUnavailableText(err: unknown): string {
  return isDatabaseBusy(err)
    ? 'the controller is busy: no database connection became free in time'
    : 'the database is unreachable';
}
