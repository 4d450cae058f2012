import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestDatabase, waitFor, type TestDatabase } from '@grove/testing';
import type { DataSource } from 'typeorm';
import { createControllerApp } from '../../app';
import { ClusterBus } from '../../cluster/cluster-bus';
import { ServiceAccountCache } from '../../common/auth/service-account-cache';
import { ServiceAccountService } from '../../service-accounts/service-account.service';
import { ADMIN, testConfig } from '../../test-support/test-controller';
import { openDataSource } from './data-source';
import { DATABASE_BUSY_MESSAGE } from './database-availability.service';

const API_POOL_SIZE = 2;

/** The lines the controller logs at warn level and above. */
class WarningLogger implements LoggerService {
  readonly lines: string[] = [];
  log = () => undefined;
  debug = () => undefined;
  verbose = () => undefined;
  warn = (message: unknown) => this.lines.push(String(message));
  error = (message: unknown) => this.lines.push(String(message));
  fatal = (message: unknown) => this.lines.push(String(message));
}

// Issue 13: workers' heartbeats and VM sync reads have connections of their own, so a burst of API requests that holds
// every connection of the API's pool delays neither; a request that finds no pooled connection free in time is answered
// 503 as a busy controller, not as a database outage.
describe('the pools of a controller on Postgres', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let app: NestFastifyApplication;
  const logger = new WarningLogger();

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await openDataSource({ url: db.url }, API_POOL_SIZE);
    const config = testConfig({ databaseUrl: db.url });
    app = await createControllerApp(config, dataSource, { logger });
    await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
    await waitFor('the cluster bus', () => app.get(ClusterBus).listeningSince !== undefined, 10_000);
  });
  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  const request = (method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: ADMIN, ...(body ? { 'content-type': 'application/json' } : {}) },
      payload: body ? JSON.stringify(body) : undefined,
    });

  it('heartbeats and sync reads go on while the API pool is busy, and the API answers busy', async () => {
    expect((await request('POST', '/v1/workers', { name: 'mac-1', machine_id: 'm1' })).statusCode).toBe(200);
    // A worker's account is in memory after its first requests: its credentials need no connection of the API's pool.
    // (The bootstrap's own change notification may arrive after the first request and make it read once more.)
    await waitFor('the account kept in memory', async () => {
      await request('GET', '/v1/workers/mac-1');
      return app.get(ServiceAccountCache).holds('bootstrap-admin');
    });
    // Every connection of the API's pool busy for a while, as under a burst of creates.
    let released = false;
    const hold = Promise.all(
      Array.from({ length: API_POOL_SIZE }, () => dataSource.query('SELECT pg_sleep(8)')),
    ).finally(() => (released = true));

    const heartbeat = await request('PUT', '/v1/workers/mac-1', { name: 'mac-1', last_seen: new Date().toISOString() });
    expect(heartbeat.statusCode).toBe(200);
    const sync = await request('GET', '/v1/vms?filter=worker=mac-1');
    expect([sync.statusCode, sync.body]).toEqual([200, '[]']);
    expect(released).toBe(false);

    const listed = await request('GET', '/v1/workers');
    expect(released).toBe(false);
    expect([listed.statusCode, listed.json(), listed.headers['retry-after']]).toEqual([
      503,
      { message: DATABASE_BUSY_MESSAGE },
      '1',
    ]);
    expect(logger.lines.filter((l) => /database/.test(l))).toEqual([
      expect.stringMatching(/^1 request\(s\) found no database connection free within 5 s and were answered 503/),
    ]);

    await hold;
    expect((await request('GET', '/v1/workers')).statusCode).toBe(200);
  });
});
