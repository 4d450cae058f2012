import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestDatabase, waitFor, type TestDatabase } from '@grove/testing';
import type { DataSource } from 'typeorm';
import { createControllerApp } from '../../app';
import { ClusterBus } from '../../cluster/cluster-bus';
import { openDataSource } from '../../infra/database/data-source';
import { ServiceAccountService } from '../../service-accounts/service-account.service';
import { ADMIN, basic, testConfig } from '../../test-support/test-controller';

interface Replica {
  app: NestFastifyApplication;
  dataSource: DataSource;
}

// Two replicas on one Postgres, each keeping the accounts that requests authenticate as in memory (issue 13): a role
// change, a new token or a deletion made through one replica, or in the database directly, holds on the other at once
// (as soon as Postgres' notification arrives), not when its copy runs out.
describe('service accounts kept in memory by several replicas', () => {
  let db: TestDatabase;
  const replicas: Replica[] = [];

  const start = async (name: string): Promise<Replica> => {
    const dataSource = await openDataSource({ url: db.url }, 3);
    const config = testConfig({ databaseUrl: db.url, replicaName: name });
    const app = await createControllerApp(config, dataSource, { logger: false });
    await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
    const replica = { app, dataSource };
    replicas.push(replica);
    await waitFor(`${name} listening`, () => app.get(ClusterBus).listeningSince !== undefined, 10_000);
    return replica;
  };
  const request = async (
    replica: Replica,
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    auth: string,
    body?: unknown,
  ): Promise<number> => {
    const res = await replica.app.inject({
      method,
      url,
      headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) },
      payload: body ? JSON.stringify(body) : undefined,
    });
    return res.statusCode;
  };

  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    db = await createTestDatabase();
    a = await start('cache-a');
    b = await start('cache-b');
  });
  afterAll(async () => {
    for (const replica of replicas) {
      await replica.app.close();
      await replica.dataSource.destroy();
    }
    await db?.drop();
  });

  it('a role change, a new token and a deletion through one replica hold on the other at once', async () => {
    expect(
      await request(a, 'POST', '/v1/service-accounts', ADMIN, {
        name: 'ci',
        roles: ['compute:read'],
        token: 'token-one-1',
      }),
    ).toBe(200);
    const one = basic('ci', 'token-one-1');
    // Both replicas have read the account: from now on they answer from memory.
    expect(await request(a, 'GET', '/v1/vms', one)).toBe(200);
    expect(await request(b, 'GET', '/v1/vms', one)).toBe(200);
    expect(await request(b, 'GET', '/v1/vms', one)).toBe(200);

    expect(
      await request(a, 'PUT', '/v1/service-accounts/ci', ADMIN, { name: 'ci', roles: [], token: 'token-one-1' }),
    ).toBe(200);
    expect(await request(a, 'GET', '/v1/vms', one)).toBe(403);
    await waitFor(
      'the other replica sees the role taken away',
      async () => (await request(b, 'GET', '/v1/vms', one)) === 403,
      5_000,
    );

    expect(
      await request(b, 'PUT', '/v1/service-accounts/ci', ADMIN, {
        name: 'ci',
        roles: ['compute:read'],
        token: 'token-two-2',
      }),
    ).toBe(200);
    expect(await request(b, 'GET', '/v1/vms', one)).toBe(401);
    await waitFor(
      'the other replica refuses the old token',
      async () => (await request(a, 'GET', '/v1/vms', one)) === 401,
      5_000,
    );
    const two = basic('ci', 'token-two-2');
    expect(await request(a, 'GET', '/v1/vms', two)).toBe(200);
    expect(await request(b, 'GET', '/v1/vms', two)).toBe(200);

    expect(await request(a, 'DELETE', '/v1/service-accounts/ci', ADMIN)).toBe(200);
    expect(await request(a, 'GET', '/v1/vms', two)).toBe(401);
    await waitFor(
      'the other replica refuses the deleted account',
      async () => (await request(b, 'GET', '/v1/vms', two)) === 401,
      5_000,
    );
  });

  it('a change made in the database directly holds on every replica at once', async () => {
    expect(
      await request(a, 'POST', '/v1/service-accounts', ADMIN, {
        name: 'ops',
        roles: ['compute:read'],
        token: 'token-ops-1',
      }),
    ).toBe(200);
    const ops = basic('ops', 'token-ops-1');
    for (const replica of [a, b]) {
      expect(await request(replica, 'GET', '/v1/vms', ops)).toBe(200);
    }
    await a.dataSource.query(`UPDATE service_accounts SET roles = '{}' WHERE name = 'ops'`);
    for (const [name, replica] of [
      ['a', a],
      ['b', b],
    ] as const) {
      await waitFor(
        `replica ${name} sees the role taken away`,
        async () => (await request(replica, 'GET', '/v1/vms', ops)) === 403,
        5_000,
      );
    }
  });
});
