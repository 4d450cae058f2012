import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SchedulingTrigger } from '../common/scheduling-trigger';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { DatabaseAvailability } from '../infra/database/database-availability.service';
import { SessionAdvisoryLock } from '../infra/database/session-advisory-lock';
import { SchedulingMetrics } from '../metrics/scheduling-metrics';
import { SchedulingPass } from './scheduling-pass';

/** Advisory-lock key of the scheduler leader: with several controllers on one database, only its holder schedules. */
const LEADER_LOCK_KEY = 0x67726f76; // "grov"

export interface PassResult {
  leader: boolean;
  assigned: number;
  healthChanges: number;
}

/**
 * Runs scheduling passes: at once when asked (VM created, worker registered, paused or deleted) and every
 * `schedulerIntervalMs`. Passes never overlap; requests during a pass are coalesced into one more pass. Every
 * change is written only if its VM is still at the version the decision was made on, so heartbeats and API writes
 * that land in between are never overwritten with stale data (such a VM is looked at again in one more pass).
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SchedulerService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly leaderLock: SessionAdvisoryLock;
  /** The last answer of the leader lock, to log only changes of who schedules. */
  private leader = false;
  /** When this controller last became the scheduler; workers' absence counts from here at the earliest. */
  private leadingSince: Date | undefined;

  constructor(
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
    private readonly dataSource: DataSource,
    private readonly pass: SchedulingPass,
    private readonly database: DatabaseAvailability,
    private readonly metrics: SchedulingMetrics,
    trigger: SchedulingTrigger,
  ) {
    this.leaderLock = SessionAdvisoryLock.forDataSource(this.dataSource, LEADER_LOCK_KEY);
    trigger.onRequest(
      () => this.request(),
      () => this.leadingSince !== undefined,
    );
  }

  onApplicationBootstrap(): void {
    if (this.config.schedulerIntervalMs > 0) {
      this.timer = setInterval(() => this.request(), this.config.schedulerIntervalMs);
      this.timer.unref();
      this.request();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.leaderLock.release();
  }

  /** Asks for a pass soon; returns at once. */
  request(): void {
    if (this.stopped || this.config.schedulerIntervalMs <= 0) {
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.runPass();
        } catch (err) {
          // An unreachable database is an outage, logged once by DatabaseAvailability, not a stack per pass.
          if (!this.database.report(err)) {
            this.logger.error(`scheduling pass failed: ${(err as Error).message}`, (err as Error).stack);
          }
        }
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
  }

  /** Waits for the pass in progress, if any (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) {
      await this.running;
    }
  }

  /** One pass: health checks, then placement of pending VMs (`SchedulingPass`). */
  async runPass(now = new Date()): Promise<PassResult> {
    if (!(await this.isLeader())) {
      this.leadingSince = undefined;
      return { leader: false, assigned: 0, healthChanges: 0 };
    }
    this.leadingSince ??= now;
    const started = performance.now();
    const { assigned, healthChanges, conflicts, more } = await this.pass.run(
      now,
      this.leadingSince,
      this.config.workerOfflineTimeoutMs,
    );
    this.metrics.passFinished((performance.now() - started) / 1000);
    if (conflicts > 0 || more) {
      // Some VMs changed between their read and the write of a decision, or more wait than one pass takes: look at
      // them again at once.
      this.again = true;
    }
    if (assigned > 0 || healthChanges > 0) {
      const ms = Math.round(performance.now() - started);
      this.logger.log(`scheduling pass: ${assigned} VM(s) placed, ${healthChanges} health change(s) in ${ms} ms`);
    }
    return { leader: true, assigned, healthChanges };
  }

  /**
   * Leadership is a session-level advisory lock on a connection of its own, verified at the start of every pass
   * (issue 11, part 4): a controller whose lock went with its connection (a Postgres restart, a network cut) stops
   * scheduling and takes the lock again once it can, instead of believing that it still leads next to the controller
   * that took the lock meanwhile. While the database cannot be asked, this controller does not schedule.
   */
  private async isLeader(): Promise<boolean> {
    let leader: boolean;
    try {
      leader = await this.leaderLock.hold();
    } catch (err) {
      if (!this.database.report(err)) {
        throw err;
      }
      return false;
    }
    if (leader !== this.leader) {
      this.leader = leader;
      this.logger.log(
        leader
          ? 'this controller runs the scheduler (it holds the leader lock)'
          : 'another controller runs the scheduler now (it holds the leader lock)',
      );
    }
    return leader;
  }
}
