import { Injectable, Logger } from '@nestjs/common';
import {
  Metadata,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { RelayedResolveIp__Output, ResolveIpResult, TunnelFrame } from '@grove/proto';
import { ReplicaRegistry } from '../cluster/replica-registry';
import { IpResolutionError, IpResolver } from './ip-resolver';
import { TunnelBroker, TunnelUnavailableError, type TunnelCall } from './tunnel-broker';
import { WorkerSessionRegistry } from './worker-session.registry';

type RelayServerCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;

/** How long a relay may wait for an idle tunnel of the worker (the caller's own deadline usually ends it first). */
const TAKE_TIMEOUT_MS = 10_000;

/** A gRPC stream of frames, either side of a relay. */
type FrameStream = RelayServerCall | TunnelCall;

/**
 * The serving side of relays between replicas (`grove.controller.v1.ReplicaService`): a session that reached another
 * replica gets one of the tunnels of a worker connected here, and the frames cross this process unchanged, with
 * backpressure both ways; flow control stays between the two endpoints. Only workers connected to this replica are
 * served — a relay is never relayed again, so there are no loops.
 */
@Injectable()
export class RelayServer {
  private readonly logger = new Logger('Relay');

  constructor(
    private readonly replicas: ReplicaRegistry,
    private readonly sessions: WorkerSessionRegistry,
    private readonly broker: TunnelBroker,
    private readonly ips: IpResolver,
  ) {}

  /** Joins the replica registry, relaying through this replica's gRPC listener on `grpcPort` (undefined: off). */
  joinCluster(grpcPort: number | undefined): Promise<void> {
    return this.replicas.start(grpcPort);
  }

  handlers(): UntypedServiceImplementation {
    return {
      Relay: (call: RelayServerCall) => void this.relay(call),
      ResolveIp: (
        call: ServerUnaryCall<RelayedResolveIp__Output, ResolveIpResult>,
        callback: sendUnaryData<ResolveIpResult>,
      ) => void this.resolveIp(call, callback),
    };
  }

  /** Which worker the call is for, after checking the caller presents the cluster's relay token; else why not. */
  private authorise(metadata: Metadata): { worker: string } | { code: GrpcStatus; details: string } {
    const token = String(metadata.get('x-grove-relay-token')[0] ?? '');
    if (!this.replicas.acceptsRelayToken(token)) {
      return { code: GrpcStatus.UNAUTHENTICATED, details: 'not a replica of this cluster (wrong relay token)' };
    }
    const worker = String(metadata.get('x-grove-worker-name')[0] ?? '');
    if (!this.sessions.isConnected(worker)) {
      return {
        code: GrpcStatus.UNAVAILABLE,
        details: `worker "${worker}" is not connected to replica "${this.replicas.name}"`,
      };
    }
    return { worker };
  }

  private async relay(call: RelayServerCall): Promise<void> {
    const auth = this.authorise(call.metadata);
    if (!('worker' in auth)) {
      call.emit('error', auth);
      return;
    }
    const gone = new AbortController();
    call.once('cancelled', () => gone.abort());
    let tunnel: TunnelCall;
    try {
      tunnel = await this.broker.takeLocal(auth.worker, TAKE_TIMEOUT_MS, gone.signal);
    } catch (err) {
      if (!(err instanceof TunnelUnavailableError)) {
        this.logger.warn(`relay to worker "${auth.worker}" failed: ${(err as Error).message}`);
      }
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: (err as Error).message });
      return;
    }
    if (gone.signal.aborted) {
      tunnel.end();
      return;
    }
    // The headers tell the calling replica that the worker's tunnel is ready; it sends the first frame then.
    call.sendMetadata(new Metadata());
    pipeFrames(call, tunnel);
  }

  private async resolveIp(
    call: ServerUnaryCall<RelayedResolveIp__Output, ResolveIpResult>,
    callback: sendUnaryData<ResolveIpResult>,
  ): Promise<void> {
    const auth = this.authorise(call.metadata);
    if (!('worker' in auth)) {
      callback(auth);
      return;
    }
    const { vm_uid: vmUid, timeout_ms: timeoutMs } = call.request;
    try {
      const ip = await this.ips.resolveLocal(auth.worker, vmUid, Math.min(Math.max(timeoutMs, 1000), 120_000));
      callback(null, { session: '', ip, error: '' });
    } catch (err) {
      if (err instanceof IpResolutionError) {
        callback(null, { session: '', ip: '', error: err.message });
      } else {
        callback({ code: GrpcStatus.UNAVAILABLE, details: (err as Error).message });
      }
    }
  }
}

/**
 * Moves frames between the calling replica's relay and the worker's tunnel: each direction pauses its source while
 * the other side's buffer is full, ends its sink when its source ends, and a broken side ends the other with the
 * reason (an `error` frame to the worker, UNAVAILABLE to the calling replica).
 */
function pipeFrames(relay: RelayServerCall, tunnel: TunnelCall): void {
  let finished = false;
  const forward = (from: FrameStream, to: FrameStream) => {
    from.on('data', (frame: TunnelFrame | undefined) => {
      if (frame && !finished && !to.write(frame)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.once('end', () => {
      if (!finished) {
        to.end();
      }
    });
  };
  const fail = (side: 'relay' | 'tunnel') => {
    if (finished) {
      return;
    }
    finished = true;
    if (side === 'relay') {
      tunnel.on('error', () => undefined);
      tunnel.write({ kind: 'error', message: 'the controller replica relaying this session was lost' });
      tunnel.end();
    } else {
      relay.emit('error', { code: GrpcStatus.UNAVAILABLE, details: 'the connection to the worker was lost' });
    }
  };
  forward(relay, tunnel);
  forward(tunnel, relay);
  relay.once('cancelled', () => fail('relay'));
  relay.on('error', () => fail('relay'));
  tunnel.once('cancelled', () => fail('tunnel'));
  tunnel.on('error', () => fail('tunnel'));
}
