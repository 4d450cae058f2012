import { rmSync } from 'node:fs';
import { type Server as NetServer, type Socket, connect, createServer } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { type HostAgent, hostAgent, loadTartAgentProtocol } from '@grove/proto';

export interface AgentOptions {
  /** The guest's address once it has one. */
  ip: () => string | undefined;
  /** Whether the guest has booted far enough for its agent to answer. */
  ready: () => boolean;
  /** TART_STANDIN_AGENT=absent: every connection is closed, as when no agent listens on vsock port 8080. */
  absent: boolean;
  /** Delay before answering ResolveIP (a slow agent). */
  delayMs: number;
  /** Working directory of commands that set no workdir: the directory `tart run` was started in. */
  cwd: string;
}

/**
 * The guest side and `tart run`'s control socket (tart.md §4.1). The "guest agent" is a grpc-js server on a loopback
 * port running the shared host agent (libs/proto); `control.sock` copies bytes to it, exactly as Tart proxies the
 * socket to vsock port 8080 without knowing gRPC. While the guest boots (and always with `absent`), connections are
 * closed at once, so clients see connection errors.
 */
export class ControlSocket {
  private readonly grpc = new Server();
  private readonly listener: NetServer;
  private readonly agent: HostAgent;
  private agentPort = 0;

  constructor(private readonly options: AgentOptions) {
    this.agent = hostAgent({ cwd: options.cwd, ip: options.ip, resolveDelayMs: options.delayMs });
    this.grpc.addService(loadTartAgentProtocol().Agent.service, this.agent.handlers);
    this.listener = createServer((socket) => this.proxy(socket));
  }

  /**
   * Binds `control.sock` in the VM directory. Like Tart it chdirs there and binds the relative name, which keeps the
   * path under the 104-byte sun_path limit however deep TART_HOME is; a stale socket file is removed first.
   */
  async start(vmDirectory: string): Promise<void> {
    this.agentPort = await new Promise<number>((resolveBind, reject) =>
      this.grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolveBind(port),
      ),
    );
    process.chdir(vmDirectory);
    rmSync('control.sock', { force: true });
    await new Promise<void>((resolveListen, reject) => {
      this.listener.once('error', reject);
      this.listener.listen('control.sock', () => resolveListen());
    });
  }

  /** Stops serving; `removeSocket` false leaves the socket file behind. */
  stop(removeSocket: boolean): void {
    this.agent.killAll();
    this.listener.close();
    this.grpc.forceShutdown();
    if (removeSocket) {
      rmSync('control.sock', { force: true });
    }
  }

  private proxy(client: Socket): void {
    if (this.options.absent || !this.options.ready()) {
      client.destroy();
      return;
    }
    const guest = connect(this.agentPort, '127.0.0.1');
    client.pipe(guest).pipe(client);
    const close = (): void => {
      client.destroy();
      guest.destroy();
    };
    client.on('error', close).on('close', close);
    guest.on('error', close).on('close', close);
  }
}
