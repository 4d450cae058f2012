import { Injectable } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import { VmChangeBus } from './vm-change-bus';
import { VmSchedulingRepository, type PendingShape, type VmChange, type WorkerLoad } from './vm-scheduling.repository';

export type { VmChange };

/**
 * The VMs as the scheduler reads and changes them (issue 13): pending VMs by placement shape, usage by worker, the VMs
 * a health check must look at, and batched writes that publish what they wrote (watch streams, other replicas).
 */
@Injectable()
export class VmSchedulingService {
  constructor(
    private readonly repository: VmSchedulingRepository,
    private readonly changes: VmChangeBus,
  ) {}

  /** See `VmSchedulingRepository.lastVersion`. */
  lastVersion(): Promise<number> {
    return this.repository.lastVersion();
  }

  loadByWorker(): Promise<WorkerLoad[]> {
    return this.repository.loadByWorker();
  }

  pendingShapes(lastVersion: number): Promise<PendingShape[]> {
    return this.repository.pendingShapes(lastVersion);
  }

  pendingOfShapes(
    lastVersion: number,
    shapes: readonly { key: string; limit: number }[],
    max: number,
  ): Promise<Array<{ vm: Vm; key: string }>> {
    return this.repository.pendingOfShapes(lastVersion, shapes, max);
  }

  pendingWithOtherMessage(lastVersion: number, key: string, message: string, limit: number): Promise<Vm[]> {
    return this.repository.pendingWithOtherMessage(lastVersion, key, message, limit);
  }

  scheduledOn(worker: string): Promise<Vm[]> {
    return this.repository.scheduledOn(worker);
  }

  scheduledWithEndpointsOn(workers: readonly string[]): Promise<Vm[]> {
    return this.repository.scheduledWithEndpointsOn(workers);
  }

  healthCandidates(): Promise<Vm[]> {
    return this.repository.healthCandidates();
  }

  /** Writes the changes whose VM is still as read, publishes them, and resolves to them. */
  async writeIfUnchanged(changes: readonly VmChange[]): Promise<Vm[]> {
    const written = await this.repository.writeIfUnchanged(changes);
    for (const vm of written) {
      this.changes.publish({ type: 'MODIFIED', vm });
    }
    return written;
  }
}
