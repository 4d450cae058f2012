import { Client, type ClientConfig } from 'pg';
import type { DataSource } from 'typeorm';
import { poolConnectionConfig } from './dedicated-connection';

/** How long the lock's connection may take to connect or to answer before it counts as lost. */
export const LOCK_CONNECTION_TIMEOUT_MS = 5000;

/** The lock's connection did not answer in time: a half-open TCP connection, or a server that hangs. */
class LockConnectionTimeout extends Error {
  /** As node's socket timeouts: `isDatabaseUnreachable` knows it, so it counts as an outage, not a bug. */
  readonly code = 'ETIMEDOUT';

  constructor(what: string, ms: number) {
    super(`${what} got no answer within ${ms} ms`);
    this.name = 'LockConnectionTimeout';
  }
}

/**
 * A session-level advisory lock (`pg_try_advisory_lock`) held on a connection of its own, outside the pool
 * (issue 11, part 4). The lock lives exactly as long as that session, so the connection is watched ('error' and
 * 'end' events) and verified with a `SELECT 1` whenever the holder asks whether it still holds the lock: after a
 * Postgres restart or a network cut the lock is gone, and its former holder must know before it acts as the one
 * holder again (with several controllers, two schedulers otherwise). Not held, the lock is tried for again on each
 * call, on the same connection while it lives.
 */
export class SessionAdvisoryLock {
  private client: Client | undefined;
  private held = false;
  private pending: Promise<boolean> | undefined;

  constructor(
    /** Settings of the lock's connection; read when it (re)connects. */
    private readonly connectionConfig: () => ClientConfig,
    private readonly key: number,
    private readonly timeoutMs = LOCK_CONNECTION_TIMEOUT_MS,
  ) {}

  /** A lock on the database of `dataSource`, with the very settings of its pool's connections. */
  static forDataSource(dataSource: DataSource, key: number, timeoutMs?: number): SessionAdvisoryLock {
    return new SessionAdvisoryLock(() => poolConnectionConfig(dataSource), key, timeoutMs);
  }

  /**
   * Whether this process holds the lock now: a held lock is verified on its connection; a lock not held, or one whose
   * connection failed the check, is tried for (on a new connection after a failure). Throws when the database cannot
   * be asked; the lock then counts as not held, its connection is dropped, and the next call starts over on a new
   * one. Concurrent calls share one answer.
   */
  hold(): Promise<boolean> {
    this.pending ??= this.check().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Ends the lock's connection, which releases the lock. */
  async release(): Promise<void> {
    await this.pending?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    this.held = false;
    if (client) {
      // A connection that hangs would hold shutdown up; the process ends it soon anyway.
      await this.answered(client.end(), 'closing the lock connection').catch(() => undefined);
    }
  }

  private async check(): Promise<boolean> {
    const holding = this.held ? this.client : undefined;
    if (holding) {
      try {
        await this.answered(holding.query('SELECT 1'), 'the check of the held lock');
        // The connection may have died right after answering; its 'error' or 'end' handler then let go of it.
        if (this.held && this.client === holding) {
          return true;
        }
      } catch {
        // The lock went with its connection; whether it can be taken again is asked on a new one.
        this.drop();
      }
    }
    try {
      const client = this.client ?? (await this.open());
      const { rows } = await this.answered(
        client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [this.key]),
        'trying the lock',
      );
      this.held = rows[0]?.locked === true && this.client === client;
      return this.held;
    } catch (err) {
      this.drop();
      throw err;
    }
  }

  private async open(): Promise<Client> {
    const config = this.connectionConfig();
    const client = new Client({
      ...config,
      connectionTimeoutMillis: config.connectionTimeoutMillis || this.timeoutMs,
      // Between checks, a dead peer is then noticed by the kernel as well.
      keepAlive: true,
    });
    // A client without an 'error' listener crashes the process when its connection breaks.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    this.client = client;
    this.held = false;
    await client.connect();
    return client;
  }

  private lost(client: Client): void {
    if (this.client === client) {
      this.client = undefined;
      this.held = false;
    }
  }

  /** Lets go of the connection; `end()` destroys the socket when a query still hangs on it. */
  private drop(): void {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    client?.end().catch(() => undefined);
  }

  private answered<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LockConnectionTimeout(what, this.timeoutMs)), this.timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}
