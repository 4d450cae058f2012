import { Client, DatabaseError, type ClientConfig, type Pool, type QueryResultRow } from 'pg';
import type { DataSource } from 'typeorm';

/** How long a statement may go unanswered before its connection counts as lost (half-open TCP, a hung server). */
const ANSWER_TIMEOUT_MS = 30_000;

/** The pg Pool of `dataSource` (TypeORM's Postgres driver keeps it as `master`); undefined before it is initialised. */
export function typeOrmPool(dataSource: DataSource): Pool | undefined {
  return (dataSource.driver as unknown as { master?: Pool }).master;
}

/** The settings of the pool's connections of `dataSource`. */
export function poolConnectionConfig(dataSource: DataSource): ClientConfig {
  const pool = typeOrmPool(dataSource);
  if (!pool?.options) {
    throw new Error('the DataSource has no pg pool: it is not initialised, or not on Postgres');
  }
  return pool.options;
}

/**
 * A connection of its own, outside the pool, for work that must not wait behind API requests: the scheduler's
 * statements (issue 13: with 64 creates in flight, every statement of a pass queued for one of the 10 pooled
 * connections, and a pass that placed 200 VMs took one to two seconds). Opened on first use and again after it broke;
 * statements run one after another, as on any connection. Postgres answering with an error leaves the connection as it
 * is; any other failure (connection lost, no answer in time) drops it, and the next statement opens a new one.
 */
export class DedicatedConnection {
  private client: Client | undefined;
  private opening: Promise<Client> | undefined;
  private closed = false;

  constructor(
    /** Settings of the connection; read when it (re)connects. */
    private readonly connectionConfig: () => ClientConfig,
    private readonly timeoutMs = ANSWER_TIMEOUT_MS,
  ) {}

  /** A connection to the database of `dataSource`, with the settings of its pool's connections. */
  static forDataSource(dataSource: DataSource, timeoutMs?: number): DedicatedConnection {
    return new DedicatedConnection(() => poolConnectionConfig(dataSource), timeoutMs);
  }

  async query<T extends QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
    const client = await this.connect();
    try {
      return (await client.query<T>(text, params)).rows;
    } catch (err) {
      if (!(err instanceof DatabaseError)) {
        this.drop(client);
      }
      throw err;
    }
  }

  /** Ends the connection; later statements fail. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.opening?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<Client> {
    if (this.closed) {
      return Promise.reject(new Error('the dedicated database connection is closed'));
    }
    if (this.client) {
      return Promise.resolve(this.client);
    }
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<Client> {
    const config = this.connectionConfig();
    const client = new Client({
      ...config,
      connectionTimeoutMillis: config.connectionTimeoutMillis || this.timeoutMs,
      query_timeout: this.timeoutMs,
      keepAlive: true,
    });
    // A client without an 'error' listener crashes the process when its connection breaks.
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('the dedicated database connection is closed');
    }
    this.client = client;
    return client;
  }

  /** Lets go of the connection; `end()` destroys the socket when a statement still hangs on it. */
  private drop(client: Client): void {
    if (this.client === client) {
      this.client = undefined;
    }
    client.end().catch(() => undefined);
  }
}
