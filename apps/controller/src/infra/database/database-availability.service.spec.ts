import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import {
  DATABASE_BUSY_LOG_INTERVAL_MS,
  DATABASE_BUSY_MESSAGE,
  DATABASE_PROBE_INTERVAL_MS,
  DATABASE_UNREACHABLE_MESSAGE,
  DatabaseAvailability,
  databaseUnavailableMessage,
} from './database-availability.service';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
/** pg-pool's error when no pooled connection became free in time. */
const poolWait = () => new Error('timeout exceeded when trying to connect');

/** A DataSource whose `SELECT 1` fails while `down` is true; counts probes, and how many ran at once at most. */
function fakeDatabase() {
  const state = { down: false, probes: 0, running: 0, maxRunning: 0 };
  const dataSource = {
    query: async () => {
      state.probes++;
      state.running++;
      state.maxRunning = Math.max(state.maxRunning, state.running);
      await Promise.resolve();
      state.running--;
      if (state.down) {
        throw refused();
      }
      return [{ '?column?': 1 }];
    },
  } as unknown as DataSource;
  return { state, dataSource };
}

describe('DatabaseAvailability', () => {
  let lines: { level: string; message: string }[];

  beforeEach(() => {
    jest.useFakeTimers();
    lines = [];
    for (const level of ['log', 'warn', 'error', 'debug'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation((message: unknown, ..._rest: unknown[]) => {
        lines.push({ level, message: String(message) });
      });
    }
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('ignores errors that do not mean an outage', async () => {
    const { state, dataSource } = fakeDatabase();
    const availability = new DatabaseAvailability(dataSource);
    expect(availability.report(new Error('duplicate key value'))).toBe(false);
    await jest.advanceTimersByTimeAsync(5000);
    expect(state.probes).toBe(0);
    expect(availability.available).toBe(true);
  });

  it('logs one line when the database goes away and one when it is back, whatever the number of reports', async () => {
    const { state, dataSource } = fakeDatabase();
    const availability = new DatabaseAvailability(dataSource);
    state.down = true;
    expect(availability.report(refused())).toBe(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(availability.available).toBe(false);
    for (let i = 0; i < 50; i++) {
      expect(availability.report(refused())).toBe(true);
      await jest.advanceTimersByTimeAsync(100);
    }
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'database unreachable: connect ECONNREFUSED 127.0.0.1:5432; answering 503 until it is back',
      },
    ]);
    // About one probe a second, never two at once.
    expect(state.probes).toBeGreaterThanOrEqual(5);
    expect(state.probes).toBeLessThanOrEqual(6);
    expect(state.maxRunning).toBe(1);

    state.down = false;
    await jest.advanceTimersByTimeAsync(DATABASE_PROBE_INTERVAL_MS);
    expect(availability.available).toBe(true);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ level: 'log', message: expect.stringMatching(/^database is back after 6\.\d s$/) });
    const probes = state.probes;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.probes).toBe(probes);

    // A later outage is a new one, with its own two lines.
    state.down = true;
    availability.report(refused());
    await jest.advanceTimersByTimeAsync(0);
    state.down = false;
    await jest.advanceTimersByTimeAsync(DATABASE_PROBE_INTERVAL_MS);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'log', 'warn', 'log']);
  });

  it('logs nothing above debug for an error that the next probe does not confirm', async () => {
    const { state, dataSource } = fakeDatabase();
    const availability = new DatabaseAvailability(dataSource);
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
    });
    expect(availability.report(terminated)).toBe(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(state.probes).toBe(1);
    expect(availability.available).toBe(true);
    expect(lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });

  it('takes a pool with no connection free for a busy controller, not an outage: counted, logged once a minute', async () => {
    const { state, dataSource } = fakeDatabase();
    const availability = new DatabaseAvailability(dataSource);
    for (let i = 0; i < 3; i++) {
      expect(availability.report(poolWait())).toBe(true);
    }
    await jest.advanceTimersByTimeAsync(1000);
    expect(availability.available).toBe(true);
    expect(state.probes).toBe(0);
    expect(databaseUnavailableMessage(poolWait(), availability)).toBe(DATABASE_BUSY_MESSAGE);
    expect(databaseUnavailableMessage(refused(), availability)).toBe(DATABASE_UNREACHABLE_MESSAGE);
    for (let i = 0; i < 40; i++) {
      availability.report(poolWait());
      await jest.advanceTimersByTimeAsync(1000);
    }
    await jest.advanceTimersByTimeAsync(2 * DATABASE_BUSY_LOG_INTERVAL_MS);
    expect(lines.map((l) => [l.level, l.message.replace(/ within .*/, '')])).toEqual([
      ['warn', '1 request(s) found no database connection free'],
      ['warn', '42 request(s) found no database connection free'],
    ]);
    expect(lines[0].message).toMatch(/answered 503: all \S+ connections of the pool were in use/);

    // During an outage, a request that waited for the pool is told that the database is unreachable.
    state.down = true;
    availability.report(refused());
    await jest.advanceTimersByTimeAsync(0);
    expect(databaseUnavailableMessage(poolWait(), availability)).toBe(DATABASE_UNREACHABLE_MESSAGE);
    availability.onApplicationShutdown();
  });

  it('stops probing at shutdown', async () => {
    const { state, dataSource } = fakeDatabase();
    const availability = new DatabaseAvailability(dataSource);
    state.down = true;
    availability.report(refused());
    await jest.advanceTimersByTimeAsync(0);
    availability.onApplicationShutdown();
    const probes = state.probes;
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.probes).toBe(probes);
    availability.report(refused());
    await jest.advanceTimersByTimeAsync(10_000);
    expect(state.probes).toBe(probes);
  });
});
