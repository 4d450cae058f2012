import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';

/** How often a replica renews its lease, and how long a lease lasts without renewal. */
export const REPLICA_LEASE_RENEW_MS = 2_000;
export const REPLICA_LEASE_MS = 10_000;
/** Rows of replicas whose lease ran out this long ago are removed (with their worker sessions) by any live replica. */
const DEAD_REPLICA_PURGE_MS = 60_000;

/** A replica other than this one, where a client's request must be forwarded. */
export interface OtherReplica {
  replica: string;
  /** `HOST:PORT` of its REST listener. */
  httpAddress: string;
}

/** Where a worker's session is held, as the registry knows it. */
export interface WorkerSessionLocation {
  replica: string;
  /** The replica's gRPC address for relays. */
  relayAddress: string;
  connectedAt: Date;
  /** Whether the replica's lease is current (a dead replica's entries stay until purged, marked down). */
  up: boolean;
}

/**
 * The shared registry of controller replicas in Postgres (ARCHITECTURE.md decision 8, KAS's "many to many"): each
 * replica holds a lease it renews every two seconds, and records which workers' sessions it holds. A replica that
 * receives a session for a worker it does not hold looks the worker up here and relays to the holder. Entries of a
 * replica that died expire with its lease; nothing waits for it to clean up. The cluster's relay token (a random
 * secret created by the first replica, readable only through the database) authenticates replicas to each other.
 */
@Injectable()
export class ReplicaRegistry implements OnApplicationShutdown {
  private readonly logger = new Logger('Replicas');
  private relayTokenValue = '';
  private address = '';
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  /** Workers whose sessions this replica holds: re-recorded whenever the replica row had to be re-created. */
  private readonly held = new Map<string, Date>();
  private leaseTrouble = false;
  /** Live replicas other than this one, as of the last lease renewal (-1 until known). */
  private peerCount = -1;

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly dataSource: DataSource,
  ) {}

  get name(): string {
    return this.config.replicaName;
  }

  /** The address other replicas relay to (empty when this replica runs no gRPC listener). */
  get relayAddress(): string {
    return this.address;
  }

  /**
   * Whether other live replicas may exist (as of the last lease renewal, every 2 s): a replica alone on its database
   * spares the notifications nobody would hear.
   */
  get hasPeers(): boolean {
    return this.peerCount !== 0;
  }

  /** The cluster's relay token (after `start`). */
  get relayToken(): string {
    return this.relayTokenValue;
  }

  /** Whether `token` is the cluster's relay token (constant time). */
  acceptsRelayToken(token: string): boolean {
    const a = Buffer.from(token);
    const b = Buffer.from(this.relayTokenValue);
    return this.relayTokenValue !== '' && a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Joins the cluster: reads (or creates) the relay token, writes this replica's row and starts renewing its lease.
   * `grpcPort` is the bound worker/relay listener's port, undefined when it is off.
   */
  async start(grpcPort: number | undefined): Promise<void> {
    if (!this.dataSource.isInitialized) {
      // Only the OpenAPI generator builds the app without a database; there is no cluster to join then.
      return;
    }
    this.address =
      this.config.relayAddress ?? (grpcPort === undefined ? '' : defaultRelayAddress(this.config, grpcPort));
    await this.dataSource.query(
      `INSERT INTO cluster_secrets (id, relay_token) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
      [randomBytes(32).toString('base64url')],
    );
    const rows: { relay_token: string }[] = await this.dataSource.query(
      `SELECT relay_token FROM cluster_secrets WHERE id = 1`,
    );
    this.relayTokenValue = rows[0].relay_token;
    await this.writeOwnRow();
    this.started = true;
    this.timer = setInterval(() => void this.renew(), REPLICA_LEASE_RENEW_MS);
    this.timer.unref();
  }

  /** Records that this replica now holds the worker's session (replacing any other replica's entry). */
  recordSession(worker: string, connectedAt: Date): void {
    this.held.set(worker, connectedAt);
    if (this.started) {
      void this.upsertSession(worker, connectedAt);
    }
  }

  /** Forgets the worker's session here, unless another replica has taken it over meanwhile. */
  forgetSession(worker: string): void {
    this.held.delete(worker);
    if (!this.started || this.stopped) {
      return;
    }
    this.dataSource
      .query(`DELETE FROM worker_sessions WHERE worker = $1 AND replica = $2`, [worker, this.name])
      .catch((err: Error) => this.logger.warn(`could not remove the session of worker "${worker}": ${err.message}`));
  }

  /** Where the worker's session is held, if any replica (up or not) has it on record. */
  async locate(worker: string): Promise<WorkerSessionLocation | undefined> {
    const rows: {
      replica: string;
      relay_address: string;
      connected_at: Date;
      up: boolean;
    }[] = await this.dataSource.query(
      `SELECT s.replica, r.relay_address, s.connected_at, r.lease_expires_at > now() AS up
         FROM worker_sessions s JOIN controller_replicas r ON r.name = s.replica
        WHERE s.worker = $1`,
      [worker],
    );
    const row = rows[0];
    return row
      ? { replica: row.replica, relayAddress: row.relay_address, connectedAt: row.connected_at, up: row.up }
      : undefined;
  }

  /** Every recorded worker session, by worker name (for `GET /v1/workers`). */
  async sessions(): Promise<Map<string, WorkerSessionLocation>> {
    const rows: { worker: string; replica: string; relay_address: string; connected_at: Date; up: boolean }[] =
      await this.dataSource.query(
        `SELECT s.worker, s.replica, r.relay_address, s.connected_at, r.lease_expires_at > now() AS up
           FROM worker_sessions s JOIN controller_replicas r ON r.name = s.replica`,
      );
    return new Map(
      rows.map((r) => [
        r.worker,
        { replica: r.replica, relayAddress: r.relay_address, connectedAt: r.connected_at, up: r.up },
      ]),
    );
  }

  /** Tells the other replicas where this one's REST listener is (for forwarded exec reattachments). */
  async setHttpPort(port: number): Promise<void> {
    if (!this.started) {
      return;
    }
    const host =
      this.address === '' ? defaultRelayAddress(this.config, port).replace(/:\d+$/, '') : hostOf(this.address);
    await this.dataSource.query(`UPDATE controller_replicas SET http_address = $2 WHERE name = $1`, [
      this.name,
      `${host}:${port}`,
    ]);
  }

  /**
   * Claims the reconnectable exec session (VM name, id) for this replica, unless a live replica already holds it;
   * returns that other replica, or undefined when this one holds it now.
   */
  async claimExecSession(vmName: string, id: string): Promise<OtherReplica | undefined> {
    if (!this.started) {
      return undefined;
    }
    const rows: { replica: string; http_address: string }[] = await this.dataSource.query(
      `INSERT INTO exec_sessions (vm_name, id, replica, created_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (vm_name, id) DO UPDATE SET replica = CASE
         WHEN (SELECT lease_expires_at > now() FROM controller_replicas r WHERE r.name = exec_sessions.replica)
         THEN exec_sessions.replica ELSE EXCLUDED.replica END
       RETURNING replica, (SELECT http_address FROM controller_replicas r WHERE r.name = exec_sessions.replica)
         AS http_address`,
      [vmName, id, this.name],
    );
    const row = rows[0];
    return row && row.replica !== this.name ? { replica: row.replica, httpAddress: row.http_address } : undefined;
  }

  /** The live replica other than this one that holds the exec session, if any. */
  async execSessionOwner(vmName: string, id: string): Promise<OtherReplica | undefined> {
    if (!this.started) {
      return undefined;
    }
    const rows: { replica: string; http_address: string }[] = await this.dataSource.query(
      `SELECT s.replica, r.http_address FROM exec_sessions s JOIN controller_replicas r ON r.name = s.replica
        WHERE s.vm_name = $1 AND s.id = $2 AND r.lease_expires_at > now() AND s.replica <> $3`,
      [vmName, id, this.name],
    );
    const row = rows[0];
    return row ? { replica: row.replica, httpAddress: row.http_address } : undefined;
  }

  /** Forgets an exec session of this replica (closed, or never started). */
  releaseExecSession(vmName: string, id: string): void {
    if (!this.started || this.stopped) {
      return;
    }
    this.dataSource
      .query(`DELETE FROM exec_sessions WHERE vm_name = $1 AND id = $2 AND replica = $3`, [vmName, id, this.name])
      .catch((err: Error) => this.logger.debug?.(`could not forget exec session ${id}: ${err.message}`));
  }

  /** Leaves the cluster: the row and this replica's session entries go at once, so nobody relays here any more. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (!this.started) {
      return;
    }
    await this.dataSource
      .query(`DELETE FROM controller_replicas WHERE name = $1`, [this.name])
      .catch((err: Error) => this.logger.warn(`could not leave the replica registry: ${err.message}`));
  }

  private async writeOwnRow(): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO controller_replicas (name, relay_address, started_at, lease_expires_at)
       VALUES ($1, $2, now(), now() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET relay_address = EXCLUDED.relay_address,
                                        lease_expires_at = EXCLUDED.lease_expires_at`,
      [this.name, this.address, REPLICA_LEASE_MS],
    );
  }

  private async upsertSession(worker: string, connectedAt: Date): Promise<void> {
    try {
      await this.dataSource.query(
        `INSERT INTO worker_sessions (worker, replica, connected_at) VALUES ($1, $2, $3)
         ON CONFLICT (worker) DO UPDATE SET replica = EXCLUDED.replica, connected_at = EXCLUDED.connected_at`,
        [worker, this.name, connectedAt],
      );
    } catch (err) {
      // A worker deleted meanwhile (foreign key) has nothing to record; other failures are retried by `renew`.
      this.logger.debug?.(`could not record the session of worker "${worker}": ${(err as Error).message}`);
    }
  }

  /**
   * Renews the lease. When the row is gone (purged while this replica could not reach the database), it is written
   * again with every session this replica holds, so that relays find them again.
   */
  private async renew(): Promise<void> {
    if (this.stopped) {
      return;
    }
    try {
      const result: [unknown[], number] = await this.dataSource.query(
        `UPDATE controller_replicas SET lease_expires_at = now() + $2 * interval '1 millisecond' WHERE name = $1`,
        [this.name, REPLICA_LEASE_MS],
      );
      if (result[1] === 0) {
        await this.writeOwnRow();
        for (const [worker, at] of this.held) {
          await this.upsertSession(worker, at);
        }
      }
      await this.dataSource.query(
        `DELETE FROM controller_replicas WHERE lease_expires_at < now() - $1 * interval '1 millisecond'`,
        [DEAD_REPLICA_PURGE_MS],
      );
      const peers: { n: string }[] = await this.dataSource.query(
        `SELECT count(*) AS n FROM controller_replicas WHERE name <> $1 AND lease_expires_at > now()`,
        [this.name],
      );
      this.peerCount = Number(peers[0].n);
      if (this.leaseTrouble) {
        this.leaseTrouble = false;
        this.logger.log('replica lease renewed again');
      }
    } catch (err) {
      if (!this.leaseTrouble) {
        this.leaseTrouble = true;
        this.logger.warn(`could not renew this replica's lease: ${(err as Error).message}`);
      }
    }
  }
}

/** The host part of `HOST:PORT` or `[v6]:PORT`. */
function hostOf(address: string): string {
  return address.replace(/:\d+$/, '');
}

/** The gRPC listener's address as other replicas reach it: its own host, or this host's name for a wildcard. */
function defaultRelayAddress(config: ControllerConfig, port: number): string {
  const host = config.grpcListen?.host ?? '';
  const reachable = host === '' || host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
