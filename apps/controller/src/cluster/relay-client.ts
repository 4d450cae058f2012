import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  credentials as grpcCredentials,
  Metadata,
  type Client,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  replicaServiceClient,
  type RelayedResolveIp__Output,
  type ResolveIpResult__Output,
  type TunnelFrame,
} from '@grove/proto';
import { GRPC_CLIENT_FLOW_CONTROL } from '@grove/tunnel';
import { CONTROLLER_SERVER_NAME } from '../infra/tls/certificate';
import { GRPC_TLS, type GrpcTls } from '../infra/tls/grpc-tls';
import { ReplicaRegistry } from './replica-registry';

/** A relayed tunnel as the calling replica sees it: frames both ways, like a worker's own Tunnel call. */
export type RelayCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

type ReplicaServiceClient = Client & {
  Relay(metadata: Metadata): RelayCall;
  ResolveIp(
    request: Partial<RelayedResolveIp__Output>,
    metadata: Metadata,
    options: { deadline: Date },
    callback: (err: ServiceError | null, result?: ResolveIpResult__Output) => void,
  ): void;
};

/**
 * This replica's side of relays to other replicas: one gRPC channel per replica address (HTTP/2 multiplexes every
 * relayed session over it), TLS pinned to the cluster certificate when the controller serves TLS, and the cluster's
 * relay token on every call.
 */
@Injectable()
export class RelayClient implements OnApplicationShutdown {
  private readonly clients = new Map<string, ReplicaServiceClient>();

  constructor(
    private readonly replicas: ReplicaRegistry,
    @Inject(GRPC_TLS) private readonly tls: GrpcTls,
  ) {}

  /** Opens a relayed tunnel to `worker` through the replica at `address`; the caller sends the first frame. */
  openTunnel(address: string, worker: string): RelayCall {
    return this.client(address).Relay(this.metadata(worker));
  }

  /** Asks the replica at `address` for the IP of a VM of `worker`. */
  resolveIp(address: string, worker: string, vmUid: string, timeoutMs: number): Promise<ResolveIpResult__Output> {
    return new Promise((resolve, reject) =>
      this.client(address).ResolveIp(
        { worker_name: worker, vm_uid: vmUid, timeout_ms: timeoutMs },
        this.metadata(worker),
        { deadline: new Date(Date.now() + timeoutMs + 2000) },
        (err, result) => (err || !result ? reject(err ?? new Error('empty answer')) : resolve(result)),
      ),
    );
  }

  onApplicationShutdown(): void {
    for (const client of this.clients.values()) {
      client.close();
    }
    this.clients.clear();
  }

  private metadata(worker: string): Metadata {
    const metadata = new Metadata();
    metadata.set('x-grove-replica', this.replicas.name);
    metadata.set('x-grove-relay-token', this.replicas.relayToken);
    metadata.set('x-grove-worker-name', worker);
    return metadata;
  }

  private client(address: string): ReplicaServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      const Client = replicaServiceClient();
      // Replicas serve the cluster's one certificate: a generated one is pinned (it names `grove-controller`, whatever
      // address is dialled); an operator's is verified like any other, against the relay address's name.
      const pinned = this.tls !== undefined && !this.tls.operatorProvided;
      const credentials = !this.tls
        ? grpcCredentials.createInsecure()
        : pinned
          ? grpcCredentials.createSsl(Buffer.from(this.tls.certPem))
          : grpcCredentials.createSsl();
      client = new Client(address, credentials, {
        ...(pinned ? { 'grpc.ssl_target_name_override': CONTROLLER_SERVER_NAME } : {}),
        ...GRPC_CLIENT_FLOW_CONTROL,
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      }) as unknown as ReplicaServiceClient;
      this.clients.set(address, client);
    }
    return client;
  }
}
