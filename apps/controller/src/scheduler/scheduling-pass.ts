import { Injectable } from '@nestjs/common';
import { ClusterSettingsService } from '../cluster-settings/cluster-settings.service';
import { VmSchedulingService } from '../vms/vm-scheduling.service';
import { WorkerService } from '../workers/worker.service';
import { HealthPass } from './health-pass';
import { withAbsenceGrace } from './health';
import { PlacementPass } from './placement-pass';
import { usageFromLoads } from './placement-shape';

export interface PassCounts {
  assigned: number;
  healthChanges: number;
  /** Decisions not written because their VM changed meanwhile. */
  conflicts: number;
  /** Pending VMs were left for the next pass. */
  more: boolean;
}

/**
 * One scheduling pass of the leader: health checks, then placement of pending VMs (orchard.md §4). What it reads
 * follows what there is to do, not the size of the fleet (issue 13): the workers, the usage of each worker summed by the
 * database, the VMs the health checks are about, and the pending VMs by placement shape.
 */
@Injectable()
export class SchedulingPass {
  constructor(
    private readonly vms: VmSchedulingService,
    private readonly workers: WorkerService,
    private readonly clusterSettings: ClusterSettingsService,
    private readonly health: HealthPass,
    private readonly placement: PlacementPass,
  ) {}

  /** `graceStart`: since when this controller schedules (`withAbsenceGrace`). */
  async run(now: Date, graceStart: Date, offlineTimeoutMs: number): Promise<PassCounts> {
    // The version first, the workers after: the pass places only VMs up to that version, so a worker paused (or deleted)
    // before a VM was created is seen as such when that VM is placed. VMs created since wait for the next pass (their
    // creation asked for one). The reads through the pool go together: a pass waits behind API requests once.
    let lastVersion = await this.vms.lastVersion();
    const [firstWorkers, connected, settings, firstLoads] = await Promise.all([
      this.workers.list(),
      this.workers.connectedNames(),
      this.clusterSettings.get(),
      this.vms.loadByWorker(),
    ]);
    let [workerList, loads] = [firstWorkers, firstLoads];
    const healthChanges = await this.health.run(
      withAbsenceGrace(workerList, graceStart, connected, now),
      loads.map((l) => l.worker),
      now,
      offlineTimeoutMs,
    );
    if (healthChanges > 0) {
      // Failed and stopped VMs no longer count against their workers, and VMs the health checks restarted are placed in
      // this pass: a new version, then the workers again, as above.
      lastVersion = await this.vms.lastVersion();
      [workerList, loads] = await Promise.all([this.workers.list(), this.vms.loadByWorker()]);
    }
    const { assigned, conflicts, more } = await this.placement.run({
      lastVersion,
      workers: workerList,
      usage: usageFromLoads(loads),
      profile: settings.schedulerProfile,
      now,
      offlineTimeoutMs,
    });
    return { assigned, healthChanges, conflicts, more };
  }
}
