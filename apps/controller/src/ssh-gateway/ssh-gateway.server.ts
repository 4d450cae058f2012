import type { AddressInfo, Socket } from 'node:net';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Server, type Connection } from 'ssh2';
import { DataSource } from 'typeorm';
import { clusterSshHostKey } from '../cluster/cluster-certificate';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { SshGatewayAuthenticator, type SshPrincipal } from './ssh-gateway-auth';
import { rejectChannel } from './ssh-channel';
import { ChannelOpenFailure } from './ssh-gateway.errors';
import { SshForwardService } from './ssh-forward.service';
import { describeSshHostKey, loadOrCreateSshHostKey, type SshHostKey } from './ssh-host-key';
import { SshShellService } from './ssh-shell.service';

/** A client must finish logging in within this time, as sshd's LoginGraceTime (shorter: no humans typing here). */
const LOGIN_GRACE_MS = 60_000;
/** Keep-alive of idle connections: a silent client behind a dead network path is dropped after 3 missed answers. */
const KEEPALIVE_INTERVAL_MS = 30_000;

/**
 * The controller's SSH gateway (`--listen-ssh`, docs/ssh-gateway.md; Orchard's jump server, orchard.md §6.6):
 * service accounts log in with their token or an attached key; `direct-tcpip` channels reach VM ports through the
 * workers' tunnels (`ssh -J sa@controller admin@vm`), and session channels of `sa+vm` logins run a shell or a
 * command in the VM through exec. Everything else (other channel types, global requests, port forwarding from the
 * server, agent and X11 forwarding, subsystems) is refused.
 */
const HOST_KEY_SOURCES: Record<SshHostKey['source'], string> = {
  user: 'from --ssh-host-key',
  generated: 'generated now',
  'data-dir': 'from the data dir',
  cluster: "shared by the cluster's first replica",
};

@Injectable()
export class SshGatewayServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('SshGateway');
  private server: Server | undefined;
  private hostKey: SshHostKey | undefined;
  private readonly connections = new Set<Connection>();

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly auth: SshGatewayAuthenticator,
    private readonly forwards: SshForwardService,
    private readonly shells: SshShellService,
    private readonly dataSource: DataSource,
  ) {}

  /** The bound port, or undefined when the gateway is off. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  /** The host key's `SHA256:…` fingerprint, or undefined when the gateway is off. */
  get hostKeyFingerprint(): string | undefined {
    return this.hostKey?.fingerprint;
  }

  async onApplicationBootstrap(): Promise<void> {
    const listen = this.config.sshListen;
    if (!listen) {
      return;
    }
    const local = loadOrCreateSshHostKey({ dataDir: this.config.dataDir, keyFile: this.config.sshHostKeyFile });
    // Every replica of a cluster presents the same host key (the first one's), so known_hosts entries hold.
    const shared = await clusterSshHostKey(this.dataSource, local);
    const hostKey = shared === local.privateKey ? local : describeSshHostKey(shared, 'the cluster', 'cluster');
    this.hostKey = hostKey;
    const server = new Server({ hostKeys: [hostKey.privateKey], ident: 'Grove' }, (connection, info) =>
      this.accept(connection, info.ip),
    );
    server.on('error', (err: Error) => this.logger.error(`SSH gateway error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      throw new Error(`cannot listen for SSH on ${listen.host}:${listen.port}: ${err.message}`, { cause: err });
    });
    this.server = server;
    this.logger.log(
      `SSH gateway listening on ${listen.host}:${this.port} (host key ${hostKey.type} ${hostKey.fingerprint}, ` +
        `${HOST_KEY_SOURCES[hostKey.source]})`,
    );
  }

  beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const connection of this.connections) {
      connection.end();
    }
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  private accept(connection: Connection, remoteAddress: string): void {
    this.connections.add(connection);
    const gone = new AbortController();
    let principal: SshPrincipal | undefined;
    const grace = setTimeout(() => connection.end(), LOGIN_GRACE_MS);
    grace.unref();
    connection.on('error', (err: Error) => this.logger.debug(`SSH connection from ${remoteAddress}: ${err.message}`));
    connection.once('close', () => {
      clearTimeout(grace);
      gone.abort();
      this.connections.delete(connection);
    });
    connection.on('authentication', (ctx) => {
      this.auth
        .handle(ctx, remoteAddress, (admitted) => (principal = admitted))
        .catch((err: Error) => {
          this.logger.error(
            `SSH login from ${remoteAddress} failed with an internal error: ${err.stack ?? err.message}`,
          );
          ctx.reject();
        });
    });
    connection.once('ready', () => {
      clearTimeout(grace);
      const who = principal;
      if (!who) {
        connection.end();
        return;
      }
      this.logger.log(
        `SSH login of "${who.account.name}" (${who.method}) from ${remoteAddress}` +
          (who.login.vm ? ` for VM "${who.login.vm}"` : ''),
      );
      this.keepAlive(connection);
      connection.on('tcpip', (accept, reject, info) => {
        void this.forwards.forward(connection, who, accept, reject, info, gone.signal);
      });
      connection.on('session', (accept, reject) => {
        const vm = who.login.vm;
        if (!vm) {
          rejectChannel(connection, reject, {
            reason: ChannelOpenFailure.AdministrativelyProhibited,
            message:
              `this gateway opens shells only in VMs: log in as "${who.account.name}+<vm-name>", ` +
              `or jump through it with ssh -J ${who.account.name}@<controller> admin@<vm-name>`,
          });
          return;
        }
        this.shells.serve(accept(), who, vm);
      });
      // Global requests (tcpip-forward, keep-alives of the client) get ssh2's automatic refusal when unhandled.
      connection.on('request', (_accept, reject) => reject?.());
    });
  }

  /**
   * Keeps idle connections alive through proxies and NATs, and finds dead peers: a `keepalive@openssh.com` request
   * every interval (ssh2's server has no keep-alive of its own; unanswered writes end a dead connection) and TCP
   * keep-alive underneath. Nagle off: interactive sessions send single keystrokes.
   */
  private keepAlive(connection: Connection): void {
    const internals = connection as unknown as { _sock?: Socket; _protocol?: { ping?: () => void } };
    internals._sock?.setKeepAlive(true, KEEPALIVE_INTERVAL_MS);
    internals._sock?.setNoDelay(true);
    const timer = setInterval(() => internals._protocol?.ping?.(), KEEPALIVE_INTERVAL_MS);
    timer.unref();
    connection.once('close', () => clearInterval(timer));
  }
}
