import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Vm, WatchMessage } from '@grove/resources';
import { createTestDatabase, waitFor, type TestDatabase } from '@grove/testing';
import type { DataSource } from 'typeorm';
import { createControllerApp } from '../app';
import { ClusterBus } from '../cluster/cluster-bus';
import { openDataSource } from '../infra/database/data-source';
import { ServiceAccountService } from '../service-accounts/service-account.service';
import { ADMIN, testConfig } from '../test-support/test-controller';

interface Replica {
  app: NestFastifyApplication;
  dataSource: DataSource;
  port: number;
}

/** An open `GET /v1/vms?watch=true` stream: the messages so far, parsed. */
interface FleetWatch {
  status: number;
  type: string;
  messages: WatchMessage<Vm>[];
  res: IncomingMessage;
}

function watchFleet(port: number, query = 'watch=true'): Promise<FleetWatch> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: `/v1/vms?${query}`, headers: { authorization: ADMIN } });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const watch: FleetWatch = {
        status: res.statusCode ?? 0,
        type: String(res.headers['content-type']),
        messages: [],
        res,
      };
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        watch.messages.push(...lines.filter((l) => l !== '').map((l) => JSON.parse(l) as WatchMessage<Vm>));
      });
      resolve(watch);
    });
    req.end();
  });
}

const seen = (watch: FleetWatch) => watch.messages.map((m) => `${m.type} ${m.object.name}`);

/**
 * `GET /v1/vms?watch=true` (issue 16): the whole fleet, then its changes, in the single-VM watch's message shape, on
 * a replica other than the one the changes go through.
 */
describe('fleet watch', () => {
  let db: TestDatabase;
  const replicas: Replica[] = [];
  const watches: FleetWatch[] = [];

  const start = async (name: string): Promise<Replica> => {
    const dataSource = await openDataSource({ url: db.url }, 3);
    const config = testConfig({ databaseUrl: db.url, replicaName: name });
    const app = await createControllerApp(config, dataSource, { logger: false });
    await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
    await app.listen({ host: '127.0.0.1', port: 0 });
    await waitFor(`${name} listening`, () => app.get(ClusterBus).listeningSince !== undefined, 10_000);
    const replica = { app, dataSource, port: (app.getHttpServer().address() as AddressInfo).port };
    replicas.push(replica);
    return replica;
  };
  const send = async (replica: Replica, method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) => {
    const res = await replica.app.inject({
      method,
      url,
      headers: { authorization: ADMIN, ...(body ? { 'content-type': 'application/json' } : {}) },
      payload: body ? JSON.stringify(body) : undefined,
    });
    expect([url, res.statusCode]).toEqual([url, 200]);
  };

  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    db = await createTestDatabase();
    a = await start('fleet-a');
    b = await start('fleet-b');
  });
  afterAll(async () => {
    for (const watch of watches) {
      watch.res.destroy();
    }
    for (const replica of replicas) {
      await replica.app.close();
      await replica.dataSource.destroy();
    }
    await db?.drop();
  });

  it('sends ADDED for every VM, then the changes made through another replica', async () => {
    for (const name of ['fleet-1', 'fleet-2', 'fleet-3']) {
      await send(a, 'POST', '/v1/vms', { name, image: 'img' });
    }
    const watch = await watchFleet(b.port);
    watches.push(watch);
    expect(watch.status).toBe(200);
    expect(watch.type).toBe('application/x-ndjson');
    await waitFor('the fleet', () => watch.messages.length >= 3);
    expect(seen(watch)).toEqual(['ADDED fleet-1', 'ADDED fleet-2', 'ADDED fleet-3']);
    expect(watch.messages[0].object).toMatchObject({ name: 'fleet-1', image: 'img', status: 'pending' });

    await send(a, 'POST', '/v1/vms', { name: 'fleet-0', image: 'img' });
    await waitFor('the new VM', () => watch.messages.length >= 4);
    await send(a, 'PUT', '/v1/vms/fleet-2/state', { status: 'failed', status_message: 'broken' });
    await waitFor('the change', () => watch.messages.length >= 5);
    await send(a, 'DELETE', '/v1/vms/fleet-3');
    await waitFor('the deletion', () => watch.messages.length >= 6);
    expect(seen(watch).slice(3)).toEqual(['ADDED fleet-0', 'MODIFIED fleet-2', 'DELETED fleet-3']);
    expect(watch.messages[4].object).toMatchObject({ status: 'failed', status_message: 'broken' });

    // A VM recreated under the same name is a new VM.
    await send(a, 'POST', '/v1/vms', { name: 'fleet-3', image: 'other' });
    await waitFor('the recreated VM', () => watch.messages.length >= 7);
    expect(watch.messages[6]).toMatchObject({ type: 'ADDED', object: { name: 'fleet-3', image: 'other' } });
  });

  it('refuses filter, limit and cursor with watch, naming them', async () => {
    const res = await a.app.inject({
      method: 'GET',
      url: '/v1/vms?watch=true&limit=5',
      headers: { authorization: ADMIN },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ message: 'invalid input: limit cannot be combined with watch' });
  });

  it('ends the streams when the controller shuts down', async () => {
    const c = await start('fleet-c');
    const watch = await watchFleet(c.port);
    await waitFor('the fleet', () => watch.messages.length >= 4);
    const ended = new Promise<void>((resolve) => watch.res.once('end', resolve));
    await c.app.close();
    await ended;
  });
});
