import { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { hostAgent, loadTartAgentProtocol } from '@grove/proto';
import type { ImageFaults } from './image-faults';
import { serveRfb } from './rfb-server';
import { echo, ServiceListener, vmDisplayName } from './service-listener';
import { TestPatternScreen } from './test-pattern-screen';
import { UdpEcho } from './udp-echo';
import { VmSshServer, type VmSshServerOptions } from './vm-ssh-server';
import { VmWebServer } from './vm-web-server';

const SSH_PORT = 22;
const ECHO_PORT = 7;
const HTTP_PORT = 80;
const VNC_PORT = 5900;

export interface VmServicesOptions extends VmSshServerOptions {
  /** The VM's on-disk name (its display name is derived from it). */
  onDiskName: string;
  /** How the guest agent answers (the image's faults). */
  agent: ImageFaults['agent'];
  log: (line: string) => void;
}

/** Where a booted VM's services listen. */
export interface VmServicePorts {
  /** VM port → loopback port. */
  ports: ReadonlyMap<number, number>;
  /** VM UDP port → loopback UDP port. */
  udpPorts: ReadonlyMap<number, number>;
}

/**
 * What a running synthetic VM serves (see SyntheticRuntime): SSH, echo (TCP and UDP), VNC, HTTP and the Tart guest
 * agent, created when the run starts, listening once it boots, all closed when it ends.
 */
export class VmServices {
  private readonly ssh: VmSshServer;
  private readonly agent: ReturnType<typeof hostAgent>;
  private readonly grpc = new GrpcServer();
  private readonly agentConnections: ReturnType<GrpcServer['createConnectionInjector']>;
  /**
   * Drawn when the first VNC viewer connects: the 3 MB framebuffer and its pattern cost 2–5 ms of the worker's event
   * loop, which every VM's boot paid before, viewed or not.
   */
  private screen: TestPatternScreen | undefined;
  private readonly listeners: Record<'ssh' | 'echo' | 'vnc' | 'http' | 'agent', ServiceListener>;
  private readonly udpEcho = new UdpEcho();

  constructor(options: VmServicesOptions) {
    const { onDiskName, agent: agentFault, log } = options;
    this.ssh = new VmSshServer({ hostKey: options.hostKey, credentials: options.credentials, home: options.home });
    this.agent = hostAgent({ cwd: options.home, ip: () => '127.0.0.1' });
    this.grpc.addService(loadTartAgentProtocol().Agent.service, this.agent.handlers);
    this.agentConnections = this.grpc.createConnectionInjector(ServerCredentials.createInsecure());
    const web = new VmWebServer(vmDisplayName(onDiskName));
    this.listeners = {
      ssh: new ServiceListener((socket) => this.ssh.handle(socket)),
      echo: new ServiceListener(echo),
      vnc: new ServiceListener((socket) => {
        this.screen ??= new TestPatternScreen(vmDisplayName(onDiskName));
        serveRfb(socket, this.screen, (line) => log(`${onDiskName}: ${line}`));
      }),
      http: new ServiceListener((socket) => web.handle(socket)),
      agent: new ServiceListener((socket) => {
        switch (agentFault) {
          case 'serving':
            this.agentConnections.injectConnection(socket);
            return;
          case 'absent':
            socket.destroy();
            return;
          case 'hung':
            // Accepted and never answered; the listener destroys it when the VM stops.
            return;
        }
      }),
    };
  }

  /** Listens on loopback ports the OS picks, the agent on `socketPath`; says where in `describe`. */
  async listen(socketPath: string): Promise<VmServicePorts & { describe: string }> {
    const [sshPort, echoPort, vncPort, httpPort, , udpEchoPort] = await Promise.all([
      this.listeners.ssh.listenLoopback(),
      this.listeners.echo.listenLoopback(),
      this.listeners.vnc.listenLoopback(),
      this.listeners.http.listenLoopback(),
      this.listeners.agent.listenUnix(socketPath),
      this.udpEcho.listenLoopback(),
    ]);
    return {
      udpPorts: new Map([[ECHO_PORT, udpEchoPort]]),
      ports: new Map([
        [SSH_PORT, sshPort],
        [ECHO_PORT, echoPort],
        [VNC_PORT, vncPort],
        [HTTP_PORT, httpPort],
      ]),
      describe:
        `SSH on 127.0.0.1:${sshPort}, echo on 127.0.0.1:${echoPort} (TCP) and ` +
        `127.0.0.1:${udpEchoPort} (UDP), VNC on 127.0.0.1:${vncPort}, HTTP on 127.0.0.1:${httpPort}, agent ${socketPath}`,
    };
  }

  /** Ends every session and closes every listener. */
  async close(): Promise<void> {
    this.ssh.close();
    this.screen?.close();
    this.agent.killAll();
    this.agentConnections.destroy();
    this.grpc.forceShutdown();
    await Promise.all([...Object.values(this.listeners).map((listener) => listener.close()), this.udpEcho.close()]);
  }
}
