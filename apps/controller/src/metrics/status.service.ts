import { Inject, Injectable } from '@nestjs/common';
import {
  VM_STATUSES,
  type ClusterStatus,
  type VmStatus,
  type VmStatusCounts,
  type WorkerStatus,
} from '@grove/resources';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../infra/config/controller-config';
import { workerState } from './fleet-metrics';
import { FleetRepository, type FleetWorker } from './fleet.repository';
import { SessionMetrics } from './session-metrics';

/** How many pending VMs, and how many reasons, `GET /v1/status` lists. */
const PENDING_LISTED = 20;

/**
 * `GET /v1/status` (issue 14): what `grove status` shows, from the same aggregates as the fleet metrics, plus the pending
 * VMs by name and the sessions of this replica.
 */
@Injectable()
export class StatusService {
  constructor(
    private readonly repository: FleetRepository,
    private readonly sessions: SessionMetrics,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  async status(): Promise<ClusterStatus> {
    const [counts, workers, reasons, oldest, active] = await Promise.all([
      this.repository.vmCounts(),
      this.repository.workers(this.config.workerOfflineTimeoutMs),
      this.repository.pendingReasons(PENDING_LISTED),
      this.repository.oldestPending(PENDING_LISTED),
      this.sessions.activeByKind(),
    ]);
    const vms = Object.fromEntries([...VM_STATUSES, 'total'].map((key) => [key, 0])) as VmStatusCounts;
    let starting = 0;
    for (const { status, worker, count } of counts) {
      if ((VM_STATUSES as readonly string[]).includes(status)) {
        vms[status as VmStatus] += count;
      }
      vms.total += count;
      if (status === 'pending' && worker !== '') {
        starting += count;
      }
    }
    return {
      replica: this.config.replicaName,
      workers: workers.map(toWorkerStatus),
      vms,
      pending: {
        count: vms.pending,
        starting,
        reasons,
        oldest: oldest.map((vm) => ({
          name: vm.name,
          createdAt: vm.createdAt.toISOString(),
          ...(vm.worker ? { worker: vm.worker } : {}),
          status_message: vm.statusMessage,
        })),
      },
      sessions: { replica: this.config.replicaName, active },
    };
  }
}

function toWorkerStatus(worker: FleetWorker): WorkerStatus {
  const resources: WorkerStatus['resources'] = {};
  for (const name of new Set([...Object.keys(worker.total), ...Object.keys(worker.used)])) {
    Object.defineProperty(resources, name, {
      value: {
        used: Object.hasOwn(worker.used, name) ? worker.used[name] : 0,
        total: Object.hasOwn(worker.total, name) ? Number(worker.total[name]) : 0,
      },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    name: worker.name,
    state: workerState(worker),
    session: !worker.session ? 'none' : worker.session.up ? 'up' : 'lost',
    ...(worker.session ? { sessionReplica: worker.session.replica } : {}),
    lastSeen: worker.lastSeen.toISOString(),
    vms: worker.vms,
    resources,
  };
}
