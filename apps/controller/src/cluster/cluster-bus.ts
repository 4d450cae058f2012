import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Client, type Notification } from 'pg';
import { DataSource } from 'typeorm';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { ReplicaRegistry } from './replica-registry';

/** The Postgres notification channel replicas talk on. */
export const CLUSTER_CHANNEL = 'grove_cluster';
/** Postgres refuses NOTIFY payloads of 8000 bytes or more; senders keep well below. */
export const MAX_PAYLOAD_BYTES = 7_500;
const RECONNECT_MS = 1_000;

/** A message between replicas; `from` names the sender, which ignores its own messages. */
export interface ClusterMessage {
  from: string;
  kind: string;
  [field: string]: unknown;
}

/**
 * Notifications between the controller replicas sharing one Postgres (ARCHITECTURE.md decision 8): LISTEN on a
 * dedicated connection (never one of the pool's, which TypeORM hands around), NOTIFY through the pool. With the
 * embedded database there is a single controller and nothing to tell anyone: PGlite does not deliver notifications
 * across connections anyway (decision 2), so the bus is off and every message stays in the process.
 */
@Injectable()
export class ClusterBus implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ClusterBus');
  private readonly handlers = new Map<string, ((message: ClusterMessage) => void)[]>();
  private listener: Client | undefined;
  private stopped = false;
  private down = false;
  private retry: NodeJS.Timeout | undefined;
  private listeningSinceMs: number | undefined;

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly dataSource: DataSource,
    private readonly replicas: ReplicaRegistry,
  ) {}

  /** Whether other replicas can exist (a Postgres server, not the embedded database). */
  get enabled(): boolean {
    return this.config.databaseUrl !== undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.enabled) {
      await this.listen();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.listener?.end().catch(() => undefined);
  }

  /**
   * Since when (ms since the epoch) this replica has been hearing the others without a break; undefined while it does
   * not. What it learnt before then may have missed a change (the service-account cache asks).
   */
  get listeningSince(): number | undefined {
    return this.listeningSinceMs;
  }

  /** Calls `handler` with every message of this kind from another replica. */
  on(kind: string, handler: (message: ClusterMessage) => void): void {
    this.handlers.set(kind, [...(this.handlers.get(kind) ?? []), handler]);
  }

  /** Tells the other replicas; returns false when the message is too large to send (the caller sends less). */
  publish(kind: string, fields: Record<string, unknown>): boolean {
    if (!this.enabled || this.stopped || !this.replicas.hasPeers) {
      return true;
    }
    const payload = JSON.stringify({ ...fields, from: this.config.replicaName, kind });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      return false;
    }
    this.dataSource
      .query('SELECT pg_notify($1, $2)', [CLUSTER_CHANNEL, payload])
      .catch((err: Error) => this.logger.debug?.(`could not notify the other replicas: ${err.message}`));
    return true;
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.config.databaseUrl });
    client.on('notification', (n: Notification) => this.dispatch(n.payload));
    const lost = (err?: Error) => {
      if (this.listener !== client) {
        return;
      }
      this.listener = undefined;
      this.listeningSinceMs = undefined;
      client.end().catch(() => undefined);
      if (!this.stopped) {
        this.warnDown(err?.message ?? 'the connection ended');
        this.retry = setTimeout(() => void this.reconnect(), RECONNECT_MS);
      }
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.listener = client;
    await client.connect();
    await client.query(`LISTEN ${CLUSTER_CHANNEL}`);
    if (this.listener === client) {
      this.listeningSinceMs = Date.now();
    }
  }

  private async reconnect(): Promise<void> {
    try {
      await this.listen();
      if (this.down) {
        this.down = false;
        this.logger.log('listening to the other replicas again');
      }
    } catch (err) {
      this.listener = undefined;
      this.warnDown((err as Error).message);
      if (!this.stopped) {
        this.retry = setTimeout(() => void this.reconnect(), RECONNECT_MS);
      }
    }
  }

  private warnDown(reason: string): void {
    if (!this.down) {
      this.down = true;
      this.logger.warn(`lost the notification connection to Postgres (${reason}); retrying every second`);
    }
  }

  private dispatch(payload: string | undefined): void {
    let message: ClusterMessage;
    try {
      message = JSON.parse(payload ?? '') as ClusterMessage;
    } catch {
      return;
    }
    if (message.from === this.config.replicaName) {
      return;
    }
    for (const handler of this.handlers.get(message.kind) ?? []) {
      try {
        handler(message);
      } catch (err) {
        this.logger.warn(`handling a "${message.kind}" message failed: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Whether what this replica read from the database at `readAt` may still stand in for a new read at `now` (the
 * in-memory caches ask): it is at most `ttlMs` old and, when other replicas can exist, was read while the bus heard
 * them without a break, so that no change of theirs was missed.
 */
export function readStillTrusted(
  bus: Pick<ClusterBus, 'enabled' | 'listeningSince'>,
  readAt: number,
  now: number,
  ttlMs: number,
): boolean {
  if (now - readAt > ttlMs) {
    return false;
  }
  if (!bus.enabled) {
    return true;
  }
  const since = bus.listeningSince;
  return since !== undefined && since <= readAt;
}
