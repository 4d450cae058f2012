import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, type QueryResultRow } from 'pg';
import { DataSource } from 'typeorm';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../config/controller-config';
import { poolConnectionConfig, typeOrmPool } from './dedicated-connection';

/** Connections of the pool for the workers' calls. */
export const WORKER_TRAFFIC_POOL_SIZE = 3;

/**
 * A small pool of its own for what keeps the fleet alive: workers' heartbeats and VM sync reads, and the scheduler's read
 * of the workers (issue 13). Through the pool that serves the API they queued behind whatever users sent: during a
 * burst of creates (64 in flight for 10 connections) a heartbeat waited up to seconds, and a worker whose heartbeats
 * wait long enough is taken for offline. Each of these calls is one short statement, so three connections carry 500
 * workers. With the embedded database, which has one backend for every connection anyway, they use the main pool.
 */
@Injectable()
export class WorkerTrafficPool implements OnApplicationShutdown {
  private readonly logger = new Logger(WorkerTrafficPool.name);
  private pool: Pool | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(CONTROLLER_CONFIG) private readonly config: Pick<ControllerConfig, 'databaseUrl'>,
  ) {}

  /** Runs one statement; resolves to its rows (those of RETURNING for an UPDATE). */
  async query<T extends QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.connections().query<T>(text, params)).rows;
  }

  async onApplicationShutdown(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  private connections(): Pool {
    if (this.config.databaseUrl === undefined) {
      return mainPool(this.dataSource);
    }
    if (!this.pool) {
      const pool = new Pool({ ...poolConnectionConfig(this.dataSource), max: WORKER_TRAFFIC_POOL_SIZE });
      // An idle connection that breaks is dropped by the pool; without a listener its error would end the process.
      pool.on('error', (err) => this.logger.debug?.(`a connection of the workers' pool broke: ${err.message}`));
      this.pool = pool;
    }
    return this.pool;
  }
}

/** The pg pool of `dataSource`. */
function mainPool(dataSource: DataSource): Pool {
  const pool = typeOrmPool(dataSource);
  if (!pool) {
    throw new Error('the DataSource has no pg pool: it is not initialised, or not on Postgres');
  }
  return pool;
}
