import { credentials as grpcCredentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadWorkerProtocol } from '@grove/proto';
import { createTestDatabase, waitFor, type TestDatabase } from '@grove/testing';
import { Client } from 'pg';
import { QueryFailedError, type DataSource } from 'typeorm';
import { createControllerApp } from '../../app';
import { SchedulerService } from '../../scheduler/scheduler.service';
import { ServiceAccountService } from '../../service-accounts/service-account.service';
import { ADMIN, ADMIN_TOKEN, basic, testConfig } from '../../test-support/test-controller';
import { VmEntity } from '../../vms/vm.entity';
import { WorkerGrpcServer } from '../../worker-sessions/worker-grpc.server';
import { openDataSource } from './data-source';
import { isDatabaseUnreachable } from './database-availability';
import { LOCK_CONNECTION_TIMEOUT_MS } from './session-advisory-lock';
import { startTcpProxy, type TcpProxy } from './test-support/tcp-proxy';

/** The scheduler's advisory-lock key (scheduler.service.ts). */
const LEADER_LOCK_KEY = 0x67726f76;

/** Every line the controller logs, with the stacks that came with errors. */
class RecordingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (message: unknown, ...rest: unknown[]) => this.record('log', message, rest);
  warn = (message: unknown, ...rest: unknown[]) => this.record('warn', message, rest);
  error = (message: unknown, ...rest: unknown[]) => this.record('error', message, rest);
  debug = (message: unknown, ...rest: unknown[]) => this.record('debug', message, rest);
  verbose = (message: unknown, ...rest: unknown[]) => this.record('verbose', message, rest);
  fatal = (message: unknown, ...rest: unknown[]) => this.record('fatal', message, rest);

  matching(pattern: RegExp): string[] {
    return this.lines.filter((l) => pattern.test(l));
  }

  /** Lines that carry a stack trace ("    at f (file:1:2)"). */
  stacks(): string[] {
    return this.lines.filter((l) => /\n\s+at .+:\d+:\d+\)?$/m.test(l));
  }

  private record(level: string, message: unknown, rest: unknown[]): void {
    this.lines.push([`${level} ${String(message)}`, ...rest.map(String)].join('\n'));
  }
}

/**
 * Issue 11, part 4, in-process: a controller whose database connections run through a TCP proxy, so that the
 * database can be taken away from it (cut, or one connection made half-open) while the run's shared Postgres
 * cluster, which other test files use, keeps running. The e2e test database-outage.e2e-spec.ts restarts a real
 * Postgres of its own under load.
 */
describe('database outages (a controller behind a TCP proxy to its database)', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let dataSource: DataSource;
  let app: NestFastifyApplication;
  const logger = new RecordingLogger();
  let seq = 0;
  const fresh = (prefix: string) => `${prefix}-${++seq}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    const direct = new URL(db.url);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const proxied = new URL(db.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    dataSource = await openDataSource({ url: proxied.toString() }, 5);
    const config = testConfig({ schedulerIntervalMs: 60_000, grpcListen: { host: '127.0.0.1', port: 0 } });
    app = await createControllerApp(config, dataSource, { logger });
    await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
  });
  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await proxy?.close();
    await db?.drop();
  });

  async function request(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    options: { body?: unknown; auth?: string | null } = {},
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    const headers: Record<string, string> = {};
    const auth = options.auth === undefined ? ADMIN : options.auth;
    if (auth !== null) {
      headers['authorization'] = auth;
    }
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const res = await app.inject({
      method,
      url,
      headers,
      payload: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const json = String(res.headers['content-type'] ?? '').includes('json') && res.body !== '';
    return { status: res.statusCode, body: json ? JSON.parse(res.body) : res.body, headers: res.headers };
  }

  /** Runs `during` with the database cut off, then restores it and waits until requests succeed again. */
  async function withOutage(during: () => Promise<void>): Promise<void> {
    await proxy.cut();
    try {
      await during();
    } finally {
      await proxy.restore();
    }
    await waitFor('requests to succeed again', async () => (await request('GET', '/v1/vms')).status === 200, 10_000);
  }

  it('answers 503 with Retry-After during an outage, logs it once, and serves again when it is back', async () => {
    const kept = fresh('kept');
    expect((await request('POST', '/v1/vms', { body: { name: kept, image: 'i' } })).status).toBe(200);
    const linesBefore = logger.lines.length;

    await withOutage(async () => {
      const during = [
        await request('GET', '/v1/vms'),
        // An account the controller has not read lately is looked up, which fails (a known one comes from memory).
        await request('GET', '/v1/vms', { auth: basic('somebody-else', 'a-token') }),
        await request('POST', '/v1/vms', { body: { name: fresh('lost'), image: 'i' } }),
        await request('DELETE', `/v1/vms/${kept}`),
      ];
      for (const res of during) {
        expect(res).toMatchObject({
          status: 503,
          headers: { 'retry-after': '1' },
          body: { message: 'the database is unreachable; retry in 1 s' },
        });
      }
      // What needs no database still answers, a wrong token of a known account included.
      expect((await request('GET', '/v1/', { auth: null })).status).toBe(200);
      expect((await request('GET', '/v1/vms', { auth: basic('bootstrap-admin', 'not-the-token') })).status).toBe(401);
      await waitFor('the outage in the log', () => logger.matching(/database unreachable/).length === 1);
      // Probes and more failing requests add no line.
      for (let i = 0; i < 10; i++) {
        expect((await request('GET', '/v1/vms')).status).toBe(503);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    });

    await waitFor('the end of the outage in the log', () => logger.matching(/database is back after/).length === 1);
    const lines = logger.lines.slice(linesBefore);
    expect(lines.filter((l) => /database unreachable/.test(l))).toEqual([
      expect.stringMatching(/^warn database unreachable: .+; answering 503 until it is back\n/),
    ]);
    expect(lines.filter((l) => /database is back after \d+\.\d s/.test(l))).toHaveLength(1);
    expect(logger.stacks()).toEqual([]);
    expect(logger.matching(/unexpected error/)).toEqual([]);
    // The DELETE of the outage was answered 503 and did nothing.
    expect((await request('GET', `/v1/vms/${kept}`)).status).toBe(200);
  });

  it('recognises the errors of connections lost in the middle of a transaction', async () => {
    const errors: unknown[] = [];
    const caught = (e: unknown) => {
      errors.push(e);
    };
    await dataSource
      .transaction(async (em) => {
        await em.query('SELECT 1');
        // The connection breaks while the transaction is idle between two queries: the error goes to the
        // connection's 'error' event, on which TypeORM releases the runner.
        await proxy.cut();
        await waitFor('TypeORM to release the runner', () => em.queryRunner?.isReleased === true);
        // What the repositories' next query meets: raw SQL, or an entity operation (as WorkerRepository.register).
        await em.query('SELECT 1').catch(caught);
        await em.delete(VmEntity, { name: 'none' });
      })
      .catch(caught);
    await proxy.restore();
    expect(errors.map((e) => (e as Error).constructor.name)).toEqual([
      'QueryRunnerProviderAlreadyReleasedError',
      'QueryRunnerAlreadyReleasedError',
    ]);
    for (const err of errors) {
      expect(isDatabaseUnreachable(err)).toBe(true);
    }

    // And a query in flight when the connection breaks.
    const running = dataSource.query('SELECT pg_sleep(30)').then(
      () => undefined,
      (e: unknown) => e,
    );
    const observer = new Client({ connectionString: db.url });
    await observer.connect();
    try {
      await waitFor('the query to run', async () => {
        const { rows } = await observer.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(30)'",
        );
        return rows.length > 0;
      });
    } finally {
      await observer.end();
    }
    await proxy.cut();
    const inFlight = await running;
    await proxy.restore();
    expect(inFlight).toBeInstanceOf(QueryFailedError);
    expect(isDatabaseUnreachable(inFlight)).toBe(true);
  });

  it('pauses the scheduler during an outage without a stack per pass; it resumes by itself', async () => {
    const scheduler = app.get(SchedulerService);
    const worker = fresh('worker');
    expect(
      (
        await request('POST', '/v1/workers', {
          body: { name: worker, machine_id: worker, resources: { 'org.cirruslabs.tart-vms': 2 } },
        })
      ).status,
    ).toBe(200);
    await scheduler.idle();

    await withOutage(async () => {
      expect(await scheduler.runPass()).toEqual({ leader: false, assigned: 0, healthChanges: 0 });
      scheduler.request();
      await scheduler.idle();
    });

    const vm = fresh('after');
    expect((await request('POST', '/v1/vms', { body: { name: vm, image: 'i' } })).status).toBe(200);
    const placed = await waitFor(
      'placement after the outage',
      async () => ((await request('GET', `/v1/vms/${vm}`)).body.worker as string) || undefined,
    );
    expect(placed).toBe(worker);
    expect(logger.stacks()).toEqual([]);
    expect(logger.matching(/scheduling pass failed/)).toEqual([]);
  });

  it('answers a worker session UNAVAILABLE, without a stack, while the database is away', async () => {
    const proto = loadWorkerProtocol();
    const client = new proto.grove.worker.v1.WorkerService(
      `127.0.0.1:${app.get(WorkerGrpcServer).port}`,
      grpcCredentials.createInsecure(),
    );
    try {
      await withOutage(async () => {
        const metadata = new Metadata();
        metadata.set('authorization', basic('bootstrap-admin', ADMIN_TOKEN));
        const session = client.Session(metadata);
        const ended = new Promise<{ code: number; details: string }>((resolve) => {
          session.on('error', (err: { code: number; details: string }) => resolve(err));
          session.on('end', () => resolve({ code: GrpcStatus.OK, details: '' }));
        });
        session.on('data', () => undefined);
        session.write({ hello: { worker_name: 'w', protocol_version: 1, capabilities: [], worker_version: 'test' } });
        expect(await ended).toEqual(
          expect.objectContaining({ code: GrpcStatus.UNAVAILABLE, details: 'the database is unreachable' }),
        );
      });
    } finally {
      client.close();
    }
    expect(logger.stacks()).toEqual([]);
  });

  it('gives the scheduler up when its lock connection went half-open and another controller took the lock', async () => {
    const scheduler = app.get(SchedulerService);
    await scheduler.idle();
    expect((await scheduler.runPass()).leader).toBe(true);

    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      const { rows } = await other.query<{ client_port: number }>(
        `SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [LEADER_LOCK_KEY],
      );
      expect(rows).toHaveLength(1);
      // The server ends the lock's backend, which releases the lock; the controller's side hears nothing.
      expect(proxy.halfOpen(rows[0].client_port)).toBe(true);
      await waitFor('another controller to take the lock', async () => {
        const taken = await other.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
          LEADER_LOCK_KEY,
        ]);
        return taken.rows[0].locked;
      });

      const started = Date.now();
      expect((await scheduler.runPass()).leader).toBe(false);
      expect(Date.now() - started).toBeLessThan(LOCK_CONNECTION_TIMEOUT_MS + 3000);
      expect(logger.matching(/another controller runs the scheduler now/)).toHaveLength(1);
    } finally {
      await other.end();
    }
    // The other controller is gone (its session, and so its lock, ended): this one takes over.
    await waitFor('leadership again', async () => (await scheduler.runPass()).leader, 10_000, 100);
    expect(logger.stacks()).toEqual([]);
  });
});
