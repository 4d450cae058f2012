import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { setCondition } from '@grove/resources';
import { DataSource } from 'typeorm';
import { ClusterSettingsService } from '../cluster-settings/cluster-settings.service';
import { SchedulingTrigger } from '../common/scheduling-trigger';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { DatabaseAvailability } from '../infra/database/database-availability.service';
import { SessionAdvisoryLock } from '../infra/database/session-advisory-lock';
import { VmService } from '../vms/vm.service';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';
import { WorkerService } from '../workers/worker.service';
import { checkVmHealth, withAbsenceGrace } from './health';
import { awaitsPlacement, planPlacement } from './placement';

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
 * change re-reads the VM under a row lock and re-checks the decision, so heartbeats and API writes that land in
 * between are never overwritten with stale data.
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
    private readonly vms: VmService,
    private readonly workers: WorkerService,
    private readonly clusterSettings: ClusterSettingsService,
    private readonly sessions: WorkerSessionRegistry,
    private readonly database: DatabaseAvailability,
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

  /** One pass: health checks, then placement of pending VMs. */
  async runPass(now = new Date()): Promise<PassResult> {
    if (!(await this.isLeader())) {
      this.leadingSince = undefined;
      return { leader: false, assigned: 0, healthChanges: 0 };
    }
    this.leadingSince ??= now;
    // VMs before workers: every VM of the snapshot then existed before the workers were read, so a worker paused (or
    // deleted) before a VM was created is seen as such when that VM is placed.
    const snapshot = await this.vms.all();
    const workerList = await this.workers.list();
    const workers = withAbsenceGrace(workerList, this.leadingSince, await this.workers.connectedNames(), now);
    const timeout = this.config.workerOfflineTimeoutMs;

    let healthChanges = 0;
    for (const vm of snapshot) {
      if (checkVmHealth(vm, workers, now, timeout) === undefined) {
        continue;
      }
      const changed = await this.vms.mutate(vm.name, (current) =>
        current.uid === vm.uid ? checkVmHealth(current, workers, now, timeout) : undefined,
      );
      if (changed) {
        healthChanges++;
      }
    }

    const { schedulerProfile } = await this.clusterSettings.get();
    const known = new Set(snapshot.map((vm) => vm.uid));
    const plan = planPlacement({
      // Re-read only when the health checks changed something: the snapshot is still current otherwise. VMs created
      // since the snapshot wait for the next pass (their creation asked for one): the workers were read before them.
      vms: healthChanges > 0 ? (await this.vms.all()).filter((vm) => known.has(vm.uid)) : snapshot,
      workers: workerList,
      profile: schedulerProfile,
      now,
      offlineTimeoutMs: timeout,
    });
    let assigned = 0;
    const notify = new Set<string>();
    for (const a of plan.assignments) {
      const done = await this.vms.mutate(a.vm, (current) =>
        current.uid === a.uid && awaitsPlacement(current)
          ? {
              ...current,
              worker: a.worker,
              assignedCPU: a.assignedCPU,
              assignedMemory: a.assignedMemory,
              scheduled_at: now.toISOString(),
              status_message: '',
              conditions: setCondition(current.conditions, 'scheduled', true),
              // Cleared with every transition the scheduler writes (orchard-2026.md §1.2.2).
              observedEndpoints: undefined,
            }
          : undefined,
      );
      if (done) {
        assigned++;
        notify.add(a.worker);
      }
    }
    // Workers also sync periodically; the nudge only makes new VMs start sooner.
    for (const worker of notify) {
      // The worker may hold its session with another replica: the message reaches it there.
      this.sessions.notifyAnywhere(worker, { sync_vms: {} });
    }
    for (const u of plan.unplaced) {
      await this.vms.mutate(u.vm, (current) =>
        current.uid === u.uid && awaitsPlacement(current) && current.status_message !== u.reason
          ? { ...current, status_message: u.reason }
          : undefined,
      );
    }
    if (assigned > 0 || healthChanges > 0) {
      this.logger.log(`scheduling pass: ${assigned} VM(s) placed, ${healthChanges} health change(s)`);
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
