import { freePort } from '@grove/testing';
import { Client, DatabaseError, Pool, type ClientConfig } from 'pg';
import { QueryFailedError, QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { DomainError } from '../../common/domain-error';
import {
  describeDatabaseError,
  isDatabaseBusy,
  isDatabaseUnavailable,
  isDatabaseUnreachable,
} from './database-availability';
import { startFakePostgres, type FakeBehaviour, type FakePostgresServer } from './test-support/fake-postgres-server';

/**
 * The errors come from pg itself: a closed port, or a loopback server that speaks the Postgres wire protocol and
 * stops, hangs or answers with the ErrorResponse that a real server sends while it restarts (the same objects as
 * against a real `pg_ctl restart -m fast`, which the e2e test database-outage.e2e-spec.ts does for real).
 */
describe('isDatabaseUnreachable', () => {
  const servers: FakePostgresServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function fake(behaviour: FakeBehaviour): Promise<ClientConfig> {
    const server = await startFakePostgres(behaviour);
    servers.push(server);
    return { host: '127.0.0.1', port: server.port, user: 'grove', database: 'grove' };
  }

  /** The error of `action`, failing the test when there is none. */
  async function errorOf(action: () => Promise<unknown>): Promise<Error> {
    try {
      await action();
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected an error');
  }

  /** Connects a client to `config` and runs `sql`: the error pg raises on the way. */
  async function queryError(config: ClientConfig, sql = 'SELECT 1'): Promise<Error> {
    const client = new Client(config);
    client.on('error', () => undefined);
    try {
      return await errorOf(async () => {
        await client.connect();
        await client.query(sql);
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('knows a refused connection', async () => {
    const err = await queryError({ host: '127.0.0.1', port: await freePort(), user: 'grove' });
    expect(err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
    expect(isDatabaseUnreachable(err)).toBe(true);
  });

  it('knows a missing Unix socket (server down)', async () => {
    const err = await queryError({ host: '/nonexistent-grove-socket-dir', port: 5432, user: 'grove' });
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    expect(isDatabaseUnreachable(err)).toBe(true);
  });

  it('knows a connection the server closes, at connect or during a query', async () => {
    const atConnect = await queryError(await fake({ kind: 'close' }));
    const duringQuery = await queryError(await fake({ kind: 'close-on-query' }));
    for (const err of [atConnect, duringQuery]) {
      expect(err.message).toBe('Connection terminated unexpectedly');
      expect(isDatabaseUnreachable(err)).toBe(true);
    }
  });

  it('knows the SQLSTATEs of a server that shuts down, restarts or starts up', async () => {
    const cases: [FakeBehaviour, string][] = [
      [
        {
          kind: 'fail-queries',
          severity: 'FATAL',
          code: '57P01',
          message: 'terminating connection due to administrator command',
        },
        '57P01',
      ],
      [
        {
          kind: 'fail-queries',
          severity: 'FATAL',
          code: '57P02',
          message: 'terminating connection because of crash of another server process',
        },
        '57P02',
      ],
      [{ kind: 'refuse', code: '57P03', message: 'the database system is starting up' }, '57P03'],
      [{ kind: 'refuse', code: '57P03', message: 'the database system is shutting down' }, '57P03'],
      [{ kind: 'refuse', code: '08006', message: 'connection failure' }, '08006'],
      [{ kind: 'fail-queries', severity: 'FATAL', code: '08P01', message: 'invalid frontend message type 0' }, '08P01'],
    ];
    for (const [behaviour, code] of cases) {
      const err = await queryError(await fake(behaviour));
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err).toMatchObject({ code, severity: 'FATAL' });
      expect(isDatabaseUnreachable(err)).toBe(true);
    }
  });

  it('knows connects that time out, of a client and of a pool, from a wait for a busy pool', async () => {
    const config = { ...(await fake({ kind: 'silent' })), connectionTimeoutMillis: 100 };
    const clientErr = await queryError(config);
    expect(clientErr.message).toBe('timeout expired');

    const pool = new Pool({ ...config, max: 1 });
    pool.on('error', () => undefined);
    try {
      const connecting = errorOf(() => pool.query('SELECT 1'));
      // With the only slot taken by the hung connect, the next query waits for a client and gives up too.
      const waiting = errorOf(() => pool.query('SELECT 1'));
      const [poolConnectErr, poolWaitErr] = await Promise.all([connecting, waiting]);
      expect(poolConnectErr.message).toBe('Connection terminated due to connection timeout');
      expect(poolWaitErr.message).toBe('timeout exceeded when trying to connect');
      for (const err of [clientErr, poolConnectErr]) {
        expect([isDatabaseUnreachable(err), isDatabaseBusy(err), isDatabaseUnavailable(err)]).toEqual([
          true,
          false,
          true,
        ]);
      }
      // The wait for a pooled connection says only that every connection was in use: here by a hung connect, which
      // fails by itself; under load, by queries of a database that answers.
      expect([
        isDatabaseUnreachable(poolWaitErr),
        isDatabaseBusy(poolWaitErr),
        isDatabaseUnavailable(poolWaitErr),
      ]).toEqual([false, true, true]);
      expect(isDatabaseBusy(new QueryFailedError('SELECT 1', [], poolWaitErr))).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('knows a query on a client whose connection already broke', async () => {
    const client = new Client(await fake({ kind: 'close-on-query' }));
    client.on('error', () => undefined);
    await client.connect();
    await errorOf(() => client.query('SELECT 1'));
    const err = await errorOf(() => client.query('SELECT 1'));
    expect(err.message).toBe('Client has encountered a connection error and is not queryable');
    expect(isDatabaseUnreachable(err)).toBe(true);
  });

  it("sees through TypeORM's QueryFailedError, an Error's cause and an AggregateError", async () => {
    const refused = await queryError({ host: '127.0.0.1', port: await freePort(), user: 'grove' });
    const shutdown = await queryError(
      await fake({ kind: 'fail-queries', severity: 'FATAL', code: '57P01', message: 'terminating connection' }),
    );
    const wrapped = new QueryFailedError('SELECT 1', [], shutdown);
    expect(wrapped.driverError).toBe(shutdown);
    expect(isDatabaseUnreachable(wrapped)).toBe(true);
    expect(isDatabaseUnreachable(new Error('failed to list VMs', { cause: refused }))).toBe(true);
    // What a transaction's next query raises once TypeORM released its runner on a connection error
    // (database-outage.int-spec.ts gets it for real).
    expect(isDatabaseUnreachable(new QueryRunnerAlreadyReleasedError())).toBe(true);
    expect(isDatabaseUnreachable(new QueryRunnerProviderAlreadyReleasedError())).toBe(true);
    // What node raises when every address of a host refuses (autoSelectFamily), without a code of its own.
    expect(isDatabaseUnreachable(new AggregateError([refused], 'connect failed'))).toBe(true);
  });

  it('does not take query errors, our own mistakes or our own shutdown for an outage', async () => {
    const syntax = await queryError(
      await fake({
        kind: 'fail-queries',
        severity: 'ERROR',
        code: '42601',
        message: 'syntax error at or near "SELEC"',
      }),
    );
    const unique = await queryError(
      await fake({ kind: 'fail-queries', severity: 'ERROR', code: '23505', message: 'duplicate key value' }),
    );
    expect(syntax).toBeInstanceOf(DatabaseError);
    const pool = new Pool({ host: '127.0.0.1', port: await freePort() });
    await pool.end();
    const poolEnded = await errorOf(() => pool.query('SELECT 1'));
    expect(poolEnded.message).toBe('Cannot use a pool after calling end on the pool');
    const closedClient = new Client(
      await fake({ kind: 'fail-queries', severity: 'ERROR', code: '42601', message: 'syntax error' }),
    );
    await closedClient.connect();
    await closedClient.end();
    const closed = await errorOf(() => closedClient.query('SELECT 1'));
    expect(closed.message).toBe('Client was closed and is not queryable');

    for (const err of [
      syntax,
      unique,
      new QueryFailedError('INSERT …', [], unique),
      poolEnded,
      closed,
      DomainError.notFound('VM "a"'),
      new TypeError("Cannot read properties of undefined (reading 'name')"),
      'ECONNREFUSED',
      undefined,
      null,
    ]) {
      expect(isDatabaseUnreachable(err)).toBe(false);
    }
  });

  it('tells a SQLSTATE (with a severity) from a socket code of five letters', () => {
    const protocolError = Object.assign(new DatabaseError('pipe', 10, 'error'), { code: 'EPIPE', severity: 'ERROR' });
    expect(isDatabaseUnreachable(protocolError)).toBe(false);
    expect(isDatabaseUnreachable(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }))).toBe(
      true,
    );
  });

  it('does not loop on errors that wrap each other', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isDatabaseUnreachable(a)).toBe(false);
  });
});

describe('describeDatabaseError', () => {
  it('gives the message, with the code when the message lacks it', () => {
    const shutdown = Object.assign(
      new DatabaseError('terminating connection due to administrator command', 0, 'error'),
      {
        code: '57P01',
      },
    );
    expect(describeDatabaseError(shutdown)).toBe('terminating connection due to administrator command (57P01)');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(describeDatabaseError(refused)).toBe('connect ECONNREFUSED 127.0.0.1:5432');
    expect(describeDatabaseError('down')).toBe('down');
  });
});
