import { Injectable } from '@nestjs/common';
import { isWorkerOffline, type Vm, type Worker, WORKER_CAPABILITY_VM_ENDPOINTS } from '@grove/resources';
import { VmSchedulingService } from '../vms/vm-scheduling.service';
import { checkVmHealth } from './health';
import { pauseIfDue } from './slices';

/** VMs written per statement. */
const BATCH = 500;

/**
 * The health checks of a pass (orchard.md §4 "Health check"), found by cause instead of by looking at every VM
 * (issue 13): the VMs of each worker that is gone or offline (one read and one write for all of them), the VMs whose
 * own state calls for a transition (failed, due for a restart, stopping), and the VMs with endpoints on workers without
 * `vm-endpoints`. Each VM goes through `checkVmHealth` as before, at most once per pass, and is written only if nobody
 * changed it since it was read.
 */
@Injectable()
export class HealthPass {
  constructor(private readonly vms: VmSchedulingService) {}

  /**
   * `workers` as the health check judges them (`withAbsenceGrace`); `holding`, the names of the workers that hold
   * scheduled VMs (including workers that no longer exist). Resolves to the number of VMs changed.
   */
  async run(
    workers: ReadonlyMap<string, Worker>,
    holding: readonly string[],
    now: Date,
    offlineTimeoutMs: number,
  ): Promise<number> {
    const done = new Set<string>();
    const apply = (vms: readonly Vm[]) => this.apply(vms, done, workers, now, offlineTimeoutMs);
    let changed = 0;
    let slice = performance.now();
    for (const name of holding) {
      const worker = workers.get(name);
      if (worker && !isWorkerOffline(worker, now, offlineTimeoutMs)) {
        continue;
      }
      changed += await apply(await this.vms.scheduledOn(name));
      slice = await pauseIfDue(slice);
    }
    changed += await apply(await this.vms.healthCandidates());
    const withoutEndpoints = holding.filter((name) => {
      const worker = workers.get(name);
      return worker !== undefined && !(worker.capabilities ?? []).includes(WORKER_CAPABILITY_VM_ENDPOINTS);
    });
    if (withoutEndpoints.length > 0) {
      changed += await apply(await this.vms.scheduledWithEndpointsOn(withoutEndpoints));
    }
    return changed;
  }

  private async apply(
    vms: readonly Vm[],
    done: Set<string>,
    workers: ReadonlyMap<string, Worker>,
    now: Date,
    offlineTimeoutMs: number,
  ): Promise<number> {
    const changes: { before: Vm; after: Vm }[] = [];
    for (const before of vms) {
      const after = done.has(before.uid) ? undefined : checkVmHealth(before, workers, now, offlineTimeoutMs);
      if (after) {
        changes.push({ before, after });
      }
    }
    let written = 0;
    let slice = performance.now();
    for (let i = 0; i < changes.length; i += BATCH) {
      for (const vm of await this.vms.writeIfUnchanged(changes.slice(i, i + BATCH))) {
        done.add(vm.uid);
        written++;
      }
      slice = await pauseIfDue(slice);
    }
    return written;
  }
}
