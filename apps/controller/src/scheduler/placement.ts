import {
  exposedWorkerPorts,
  workerPortClaims,
  workerPortClaimsFit,
  type WorkerPortClaim,
  DEFAULT_CPU,
  DEFAULT_MEMORY_MIB,
  isVmScheduled,
  isWorkerOffline,
  labelsMatch,
  missingResources,
  sumResources,
  type Resources,
  type SchedulerProfile,
  type Vm,
  type Worker,
  WORKER_CAPABILITY_HOST_PROCESSES,
  WORKER_CAPABILITY_VM_ENDPOINTS,
  WORKER_CAPABILITY_VM_EXPOSED_PORTS,
} from '@grove/resources';

/** A decision of one scheduling pass: put `vm` on `worker` with these CPU and memory figures. */
export interface Assignment {
  vm: string;
  uid: string;
  worker: string;
  assignedCPU: number;
  assignedMemory: number;
}

/** Why a pending VM was not placed, for its `status_message` (Orchard issue #394). */
export interface Unplaced {
  vm: string;
  uid: string;
  reason: string;
}

export interface PlacementInput {
  vms: readonly Vm[];
  workers: readonly Worker[];
  profile: SchedulerProfile;
  now: Date;
  offlineTimeoutMs: number;
}

/** A VM waits for placement when it is pending, wants to run and holds no worker yet. */
export function awaitsPlacement(vm: Vm): boolean {
  return vm.status === 'pending' && vm.powerState === 'running' && !isVmScheduled(vm);
}

/** Why `worker` cannot take `vm` right now, or undefined when it can. */
export function unsuitability(
  vm: Vm,
  worker: Worker,
  used: Resources,
  now: Date,
  offlineTimeoutMs: number,
  takenPorts: readonly WorkerPortClaim[] = [],
): string | undefined {
  if (isWorkerOffline(worker, now, offlineTimeoutMs)) {
    return 'offline';
  }
  if (worker.scheduling_paused) {
    return 'scheduling paused';
  }
  if (worker.arch !== vm.arch) {
    return `architecture ${worker.arch}`;
  }
  if (worker.runtime !== vm.runtime) {
    return `runtime ${worker.runtime}`;
  }
  if (!labelsMatch(vm.labels, worker.labels)) {
    const missing = Object.entries(vm.labels)
      .filter(([k, v]) => worker.labels[k] !== v)
      .map(([k, v]) => `${k}=${v}`);
    return `lacks label${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  }
  // Only a worker that knows `netSoftnetExpose` passes it on to Tart, and two VMs cannot both have one of its ports
  // (orchard-2026.md §1.2.9).
  const ports = exposedWorkerPorts(vm);
  if (ports.length > 0 && !worker.capabilities.includes(WORKER_CAPABILITY_VM_EXPOSED_PORTS)) {
    return `lacks capability ${WORKER_CAPABILITY_VM_EXPOSED_PORTS}`;
  }
  // The worker listens for endpoints itself (orchard-2026.md §1.2.2).
  if ((vm.endpoints ?? []).length > 0 && !(worker.capabilities ?? []).includes(WORKER_CAPABILITY_VM_ENDPOINTS)) {
    return `lacks capability ${WORKER_CAPABILITY_VM_ENDPOINTS}`;
  }
  // Host processes run on the worker's host (orchard-2026.md §1.2.3); a worker may refuse them (--no-host-processes).
  if ((vm.hostProcesses ?? []).length > 0 && !(worker.capabilities ?? []).includes(WORKER_CAPABILITY_HOST_PROCESSES)) {
    return `lacks capability ${WORKER_CAPABILITY_HOST_PROCESSES}`;
  }
  const pinned = new Set(takenPorts.filter((c) => c.min === c.max).map((c) => c.min));
  const clash = ports.filter((port) => pinned.has(port));
  if (clash.length > 0) {
    return `port${clash.length > 1 ? 's' : ''} ${clash.join(', ')} exposed by another VM`;
  }
  // Endpoint ranges and pins, with the exposed ports, must each get a worker port of their own beside the other VMs'.
  if (!workerPortClaimsFit([...takenPorts, ...workerPortClaims(vm)])) {
    return 'worker ports of its endpoints taken by other VMs';
  }
  const short = missingResources(vm.resources, worker.resources, used);
  if (short.length > 0) {
    return `not enough ${short.join(', ')}`;
  }
  return undefined;
}

/**
 * One scheduling pass over a consistent snapshot (orchard.md §4): pending VMs in FIFO order (creation time, then
 * name); for each, the workers ordered by how many VMs they hold — most first to pack (`optimize-utilization`),
 * fewest first to spread (`distribute-load`) — with ties broken by worker name, so the result is deterministic; the
 * first suitable worker wins. Resource use counts every scheduled VM, and grows as the pass assigns.
 */
export function planPlacement(input: PlacementInput): { assignments: Assignment[]; unplaced: Unplaced[] } {
  const used = new Map<string, Resources>();
  const count = new Map<string, number>();
  const ports = new Map<string, WorkerPortClaim[]>();
  for (const worker of input.workers) {
    const held = input.vms.filter((vm) => isVmScheduled(vm) && vm.worker === worker.name);
    used.set(worker.name, sumResources(held.map((vm) => vm.resources)));
    count.set(worker.name, held.length);
    ports.set(worker.name, held.flatMap(workerPortClaims));
  }
  const pending = input.vms
    .filter(awaitsPlacement)
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.name.localeCompare(b.name));
  const direction = input.profile === 'distribute-load' ? 1 : -1;

  const assignments: Assignment[] = [];
  const unplaced: Unplaced[] = [];
  for (const vm of pending) {
    const candidates = [...input.workers].sort(
      (a, b) => direction * ((count.get(a.name) ?? 0) - (count.get(b.name) ?? 0)) || a.name.localeCompare(b.name),
    );
    const refusals: string[] = [];
    let chosen: Worker | undefined;
    for (const worker of candidates) {
      const why = unsuitability(
        vm,
        worker,
        used.get(worker.name) ?? {},
        input.now,
        input.offlineTimeoutMs,
        ports.get(worker.name),
      );
      if (why === undefined) {
        chosen = worker;
        break;
      }
      refusals.push(`${worker.name}: ${why}`);
    }
    if (!chosen) {
      unplaced.push({
        vm: vm.name,
        uid: vm.uid,
        reason:
          input.workers.length === 0
            ? 'waiting for a worker: none is registered'
            : `waiting for a worker: ${refusals.sort().join('; ')}`,
      });
      continue;
    }
    used.set(chosen.name, sumResources([used.get(chosen.name) ?? {}, vm.resources]));
    count.set(chosen.name, (count.get(chosen.name) ?? 0) + 1);
    ports.get(chosen.name)?.push(...workerPortClaims(vm));
    assignments.push({
      vm: vm.name,
      uid: vm.uid,
      worker: chosen.name,
      assignedCPU: vm.cpu || chosen.defaultCPU || DEFAULT_CPU,
      assignedMemory: vm.memory || chosen.defaultMemory || DEFAULT_MEMORY_MIB,
    });
  }
  return { assignments, unplaced };
}
