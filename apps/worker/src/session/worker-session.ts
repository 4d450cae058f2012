import { EventEmitter } from 'node:events';
import { credentials as grpcCredentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { GroveClient } from '@grove/client';
import {
  loadWorkerProtocol,
  WORKER_PROTOCOL_VERSION,
  type ControllerMessage__Output,
  type WorkerMessage,
} from '@grove/proto';
import { GROVE_VERSION, type Worker } from '@grove/resources';
import { reconnectDelayMs } from './backoff';

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

/**
 * The worker's connection to its controller: register over REST, open the gRPC session, answer pings, send
 * heartbeats, and start over with jittered back-off whenever anything breaks. A lost stream restarts the session,
 * never the process. Emits `connected`, `disconnected` (with the reason), `sync` (the controller asks for a
 * reconciliation) and `resolveIp` (`{session, vmUid}` and a `reply({ip} | {error})` function).
 */
export class WorkerSession extends EventEmitter {
  private readonly client: GroveClient;
  private stopped = false;
  private stream: Stream | undefined;
  private wake: (() => void) | undefined;

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
    let attempt = 0;
    while (!this.stopped) {
      const started = Date.now();
      try {
        await this.runOnce();
      } catch (err) {
        if (!this.stopped) {
          this.emit('disconnected', (err as Error).message);
          this.options.log(`session ended: ${(err as Error).message}`);
        }
      }
      // A session that lasted a while was healthy: start the back-off over.
      attempt = Date.now() - started > 60_000 ? 0 : attempt + 1;
      if (!this.stopped) {
        const delay = reconnectDelayMs(attempt);
        this.options.log(`reconnecting in ${(delay / 1000).toFixed(1)} s`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
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

  private async runOnce(): Promise<void> {
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
      last_seen: new Date().toISOString(),
    });
    const info = await this.client.controllerInfo();
    if (info.grpcPort === undefined) {
      throw new Error('the controller runs no worker-session listener (--listen-grpc off)');
    }
    const stream = this.openStream(info.grpcPort);
    this.stream = stream;
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
          switch (message.kind) {
            case 'welcome':
              this.options.log(
                `connected to ${this.options.controllerUrl} (protocol ${message.welcome?.protocol_version})`,
              );
              this.emit('connected');
              break;
            case 'ping':
              stream.write({ pong: { nonce: message.ping?.nonce ?? '0' } });
              break;
            case 'sync_vms':
              this.emit('sync');
              break;
            case 'resolve_ip': {
              const request = message.resolve_ip!;
              const reply = (result: { ip?: string; error?: string }) =>
                stream.write({ resolve_ip_result: { session: request.session, ip: '', error: '', ...result } });
              this.emit('resolveIp', { session: request.session, vmUid: request.vm_uid }, reply);
              break;
            }
            case 'pong':
            case undefined:
              break;
          }
        });
        stream.on('error', (err: Error & { details?: string }) => reject(new Error(err.details || err.message)));
        stream.on('end', () => resolve());
        stream.write({
          hello: {
            worker_name: identity.name,
            protocol_version: WORKER_PROTOCOL_VERSION,
            capabilities: [],
            worker_version: GROVE_VERSION,
          },
        });
      });
      if (!this.stopped) {
        throw new Error('the controller closed the session');
      }
    } finally {
      clearInterval(heartbeat);
      this.stream = undefined;
    }
  }

  private openStream(grpcPort: number): Stream {
    const url = new URL(this.options.controllerUrl);
    const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
    const proto = loadWorkerProtocol();
    const pinned = this.options.certificatePem !== undefined;
    const credentials =
      url.protocol === 'https:'
        ? grpcCredentials.createSsl(pinned ? Buffer.from(this.options.certificatePem!) : null)
        : grpcCredentials.createInsecure();
    // A pinned self-signed certificate names `grove-controller`, whatever address the worker dials.
    const channelOptions = pinned ? { 'grpc.ssl_target_name_override': 'grove-controller' } : {};
    const client = new proto.grove.worker.v1.WorkerService(`${host}:${grpcPort}`, credentials, {
      ...channelOptions,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    const metadata = new Metadata();
    const basic = Buffer.from(`${this.options.serviceAccountName}:${this.options.serviceAccountToken}`).toString(
      'base64',
    );
    metadata.set('authorization', `Basic ${basic}`);
    const stream = client.Session(metadata);
    stream.on('close', () => client.close());
    return stream;
  }
}
