import { type Duplex, PassThrough } from 'node:stream';
import { credentials as grpcCredentials, Metadata, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  loadWorkerProtocol,
  workerServiceClient,
  type ControllerMessage__Output,
  type TunnelFrame,
  type WorkerMessage,
} from '@grove/proto';
import { waitFor } from '@grove/testing';
import { TunnelEndpoint } from '@grove/tunnel';
import { serveExecOnHost, type ExecStartFrame } from './host-exec';

type TunnelCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;
type SessionCall = ClientDuplexStream<WorkerMessage, ControllerMessage__Output>;
type TunnelClient = Client & { Tunnel(metadata: Metadata): TunnelCall };

/** The `open` frame of a tunnel session. */
export type OpenFrame = Extract<TunnelFrame, { kind: 'open' }>;

/** How a FakeWorker serves the sessions the controller opens on its tunnels. */
export interface FakeWorkerOptions {
  /**
   * What a port-forward session reaches, by its `open` frame: a stream whose output goes to the client and which gets
   * the client's bytes; ending it is the target closing the connection. Default: one that echoes every byte back.
   */
  target?: (open: OpenFrame) => Duplex;
  /**
   * Runs the commands of exec sessions on this host (see serveExecOnHost): the fake's VMs are the host. Without it,
   * every exec session is refused with an `error` frame, as by a worker whose VM cannot start the command.
   */
  execOnHost?: boolean;
}

/**
 * A worker as the controller sees it over gRPC, without VMs: a session that says hello with the given capabilities,
 * and idle tunnels that answer every session with `opened` and echo its bytes back (with the tunnel protocol's flow
 * control, through the same TunnelEndpoint real workers use), or reach the options' `target`; exec sessions run on
 * the host with `execOnHost`. It records the `open` and `execStart` frames it got.
 */
export class FakeWorker {
  /** The `open` frames of the sessions so far, oldest first. */
  readonly opened: OpenFrame[] = [];
  /** The `execStart` frames of the exec sessions so far, oldest first. */
  readonly execStarts: ExecStartFrame[] = [];
  private readonly tunnels: TunnelCall[] = [];
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly session: SessionCall,
    private readonly sessionClient: Client,
    private readonly tunnelClient: TunnelClient,
    private readonly sessionKey: string,
    private readonly authorization: string,
    private readonly options: FakeWorkerOptions,
  ) {}

  /** Connects a registered worker `name` to the controller's gRPC listener at `target` (`host:port`). */
  static async connect(
    target: string,
    name: string,
    authorization: string,
    capabilities: string[],
    options: FakeWorkerOptions = {},
  ): Promise<FakeWorker> {
    const proto = loadWorkerProtocol();
    const sessionClient = new proto.grove.worker.v1.WorkerService(target, grpcCredentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('authorization', authorization);
    const session: SessionCall = sessionClient.Session(metadata);
    const received: ControllerMessage__Output[] = [];
    session.on('data', (m: ControllerMessage__Output) => {
      received.push(m);
      if (m.kind === 'ping' && m.ping) {
        session.write({ pong: { nonce: m.ping.nonce } });
      }
    });
    session.on('error', () => undefined);
    session.write({ hello: { worker_name: name, protocol_version: 1, capabilities, worker_version: 'fake' } });
    const welcome = await waitFor('welcome', () => received.find((m) => m.kind === 'welcome')?.welcome ?? undefined);
    const Tunnel = workerServiceClient();
    const tunnelClient = new Tunnel(target, grpcCredentials.createInsecure()) as unknown as TunnelClient;
    const worker = new FakeWorker(
      name,
      session,
      sessionClient,
      tunnelClient,
      welcome.session_key,
      authorization,
      options,
    );
    // More tunnels when the controller asks for them (it does when a session finds none idle).
    session.on('data', (m: ControllerMessage__Output) => {
      for (let i = 0; m.kind === 'open_tunnels' && i < (m.open_tunnels?.count ?? 0); i++) {
        worker.openTunnel();
      }
    });
    worker.openTunnel();
    return worker;
  }

  private openTunnel(): void {
    if (this.closed) {
      return;
    }
    const metadata = new Metadata();
    metadata.set('authorization', this.authorization);
    metadata.set('x-grove-worker-name', this.name);
    metadata.set('x-grove-session-key', this.sessionKey);
    const call = this.tunnelClient.Tunnel(metadata);
    this.tunnels.push(call);
    call.on('error', () => undefined);
    const onFrame = (frame: TunnelFrame | undefined) => {
      if (frame?.kind !== 'open' && frame?.kind !== 'execStart') {
        return;
      }
      call.off('data', onFrame);
      // Served in the same turn as the first frame was read: no frame after it is missed.
      if (frame.kind === 'execStart') {
        this.execStarts.push(frame);
        if (this.options.execOnHost) {
          serveExecOnHost(call, frame);
        } else {
          call.write({ kind: 'error', message: 'this fake worker runs no commands' });
          call.end();
        }
      } else {
        this.opened.push(frame);
        call.write({ kind: 'opened' });
        const local = this.options.target?.(frame) ?? new PassThrough();
        void new TunnelEndpoint({ link: call, local, halfClose: true }).done;
      }
      // A fresh idle tunnel replaces the one now in use, as a worker keeps its pool full.
      this.openTunnel();
    };
    call.on('data', onFrame);
  }

  close(): void {
    this.closed = true;
    for (const call of this.tunnels) {
      call.cancel();
    }
    this.session.end();
    this.session.cancel();
    this.sessionClient.close();
    this.tunnelClient.close();
  }
}
