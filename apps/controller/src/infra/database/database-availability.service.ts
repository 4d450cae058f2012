import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeDatabaseError, isDatabaseBusy, isDatabaseUnreachable } from './database-availability';
import { poolConnectionConfig } from './dedicated-connection';

/** How often an outage is probed with `SELECT 1` until the database answers again. */
export const DATABASE_PROBE_INTERVAL_MS = 1000;
/** What a client answered 503 during an outage is told to wait (`Retry-After`, seconds): about one probe. */
export const DATABASE_RETRY_AFTER_S = 1;
/** Requests that found no pooled connection free are logged at most this often, counted. */
export const DATABASE_BUSY_LOG_INTERVAL_MS = 60_000;

/** The answer to a request that met an outage. */
export const DATABASE_UNREACHABLE_MESSAGE = `the database is unreachable; retry in ${DATABASE_RETRY_AFTER_S} s`;
/** The answer to a request that found no pooled connection free in time. */
export const DATABASE_BUSY_MESSAGE = `the controller is busy: no database connection became free in time; retry in ${DATABASE_RETRY_AFTER_S} s`;

/**
 * What a request that met `err` (unreachable or busy: `isDatabaseUnavailable`) is told with its 503: busy only while no
 * outage is known (during one, requests also queue for the pool's connects).
 */
export function databaseUnavailableMessage(err: unknown, availability?: DatabaseAvailability): string {
  return isDatabaseBusy(err) && availability?.available !== false
    ? DATABASE_BUSY_MESSAGE
    : DATABASE_UNREACHABLE_MESSAGE;
}

interface Outage {
  /** When the first error of the outage arrived (ms since the epoch). */
  since: number;
  /** That error, as one line (the log names the error of the probe that confirms the outage). */
  error: string;
  /** Whether a probe failed too: only then is it an outage worth a log line rather than one dropped connection. */
  confirmed: boolean;
}

/**
 * Keeps track of database outages (issue 11, part 4). Whoever meets an error reports it here: an "unreachable" one
 * (see `isDatabaseUnreachable`) starts an outage, which is logged once, probed every second, and logged once more
 * when the database answers again; meanwhile the callers answer 503 with `Retry-After`. A report only starts
 * probing: the first probe runs at once, and an error that it does not confirm (one terminated connection, a
 * request that failed just before the database came back) is no outage and logs nothing above debug.
 */
@Injectable()
export class DatabaseAvailability implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseAvailability.name);
  private outage: Outage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Requests refused for want of a free pooled connection since the last line about them. */
  private busyRefusals = 0;
  private busyTimer: NodeJS.Timeout | undefined;

  constructor(private readonly dataSource: DataSource) {}

  /** False from a confirmed outage until the database answers a probe again. */
  get available(): boolean {
    return this.outage?.confirmed !== true;
  }

  /**
   * Records `err` when it means that the database cannot be used now, and says so: unreachable (an outage, see above),
   * or busy (no pooled connection became free in time). Other errors are the caller's to handle and are not recorded.
   */
  report(err: unknown): boolean {
    if (isDatabaseUnreachable(err)) {
      if (!this.outage && !this.stopped) {
        this.outage = { since: Date.now(), error: describeDatabaseError(err), confirmed: false };
        void this.probe();
      }
      return true;
    }
    if (isDatabaseBusy(err)) {
      this.noteBusy();
      return true;
    }
    return false;
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.busyTimer);
  }

  /**
   * A request waited for a pooled connection as long as a connect may take and got none: every connection was in use.
   * That is no outage (a database that cannot be reached fails the connects themselves, which `report` takes for one):
   * the load needs more connections than the pool has, or queries hang. Logged once, then at most once a minute with
   * the count of requests refused meanwhile; nothing is probed.
   */
  private noteBusy(): void {
    this.busyRefusals++;
    if (this.busyTimer || this.stopped) {
      return;
    }
    this.logBusy();
  }

  private logBusy(): void {
    if (this.busyRefusals === 0) {
      this.busyTimer = undefined;
      return;
    }
    const { size, waitS } = this.poolLimits();
    this.logger.warn(
      `${this.busyRefusals} request(s) found no database connection free within ${waitS} s and were answered 503: ` +
        `all ${size} connections of the pool were in use (more load than the pool serves, or statements that hang)`,
    );
    this.busyRefusals = 0;
    this.busyTimer = setTimeout(() => this.logBusy(), DATABASE_BUSY_LOG_INTERVAL_MS);
    this.busyTimer.unref();
  }

  /** The pool's size and how long a request waits for one of its connections, for the log. */
  private poolLimits(): { size: string; waitS: string } {
    try {
      const options = poolConnectionConfig(this.dataSource) as { max?: number; connectionTimeoutMillis?: number };
      return { size: String(options.max ?? '?'), waitS: String((options.connectionTimeoutMillis ?? 0) / 1000) };
    } catch {
      return { size: '?', waitS: '?' };
    }
  }

  /**
   * One `SELECT 1` through the pool, as requests use it. Probes never overlap: one that hangs (a connect to a host
   * that drops packets) holds the next back rather than queueing more connects.
   */
  private async probe(): Promise<void> {
    const outage = this.outage;
    if (!outage || this.stopped) {
      return;
    }
    let failure: unknown;
    try {
      await this.dataSource.query('SELECT 1');
    } catch (err) {
      failure = err;
    }
    if (this.stopped) {
      return;
    }
    if (failure === undefined) {
      this.outage = undefined;
      if (outage.confirmed) {
        this.logger.log(`database is back after ${((Date.now() - outage.since) / 1000).toFixed(1)} s`);
      } else {
        this.logger.debug(`the database answers; "${outage.error}" was no outage`);
      }
      return;
    }
    if (!outage.confirmed) {
      outage.confirmed = true;
      // The probe's error says what is wrong now; the first one may only say that a connection broke.
      this.logger.warn(`database unreachable: ${describeDatabaseError(failure)}; answering 503 until it is back`);
    }
    this.timer = setTimeout(() => void this.probe(), DATABASE_PROBE_INTERVAL_MS);
    this.timer.unref();
  }
}
