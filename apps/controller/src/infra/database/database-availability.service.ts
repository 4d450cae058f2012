import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { describeDatabaseError, isDatabaseUnreachable } from './database-availability';

/** How often an outage is probed with `SELECT 1` until the database answers again. */
export const DATABASE_PROBE_INTERVAL_MS = 1000;
/** What a client answered 503 during an outage is told to wait (`Retry-After`, seconds): about one probe. */
export const DATABASE_RETRY_AFTER_S = 1;

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

  constructor(private readonly dataSource: DataSource) {}

  /** False from a confirmed outage until the database answers a probe again. */
  get available(): boolean {
    return this.outage?.confirmed !== true;
  }

  /**
   * Records `err` when it means that the database is unreachable, and says so; other errors are the caller's to
   * handle and are not recorded.
   */
  report(err: unknown): boolean {
    if (!isDatabaseUnreachable(err)) {
      return false;
    }
    if (!this.outage && !this.stopped) {
      this.outage = { since: Date.now(), error: describeDatabaseError(err), confirmed: false };
      void this.probe();
    }
    return true;
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
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
