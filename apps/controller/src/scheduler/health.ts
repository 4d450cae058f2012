import {
  ENDPOINTS_UNSUPPORTED_MESSAGE,
  isVmScheduled,
  isWorkerOffline,
  setCondition,
  vmLocalName,
  ZERO_TIME,
  type Vm,
  type VmObservedEndpoint,
  type Worker,
  WORKER_CAPABILITY_VM_ENDPOINTS,
} from '@grove/resources';

export const VM_WORKER_DELETED = "VM is assigned to a worker that doesn't exist anymore";
export const VM_WORKER_OFFLINE = 'VM is assigned to a worker that lost connection with the controller';

/**
 * The workers as the health check must judge them. A worker whose gRPC session is up on some replica (`connected`) is
 * seen now, whatever its last REST heartbeat says: session pings prove it alive every 10 s (ARCHITECTURE.md decision
 * 4). Otherwise its absence counts from `graceStart` at the earliest — the moment this controller started scheduling
 * (its start, or its takeover from another replica): a `last_seen` written before the controller went down says
 * nothing about whether the worker survived the outage (Orchard #454). Without this, a controller down longer than the
 * offline timeout would fail every VM of the fleet on its first pass.
 */
export function withAbsenceGrace(
  workers: readonly Worker[],
  graceStart: Date,
  connected: ReadonlySet<string> = new Set(),
  now: Date = graceStart,
): Map<string, Worker> {
  const floor = graceStart.getTime();
  return new Map(
    workers.map((w) => {
      if (connected.has(w.name)) {
        return [w.name, { ...w, last_seen: now.toISOString() }];
      }
      const seen = Date.parse(w.last_seen);
      return [w.name, Number.isNaN(seen) || seen < floor ? { ...w, last_seen: graceStart.toISOString() } : w];
    }),
  );
}

/** First restart at once, then 15 s, 30 s, 60 s … capped at 5 minutes between restarts. */
export function restartBackoffMs(restartCount: number): number {
  if (restartCount === 0) {
    return 0;
  }
  return Math.min(15_000 * 2 ** (restartCount - 1), 5 * 60_000);
}

/**
 * The health check of one VM against the workers, as a pure function returning the new VM, or undefined when
 * nothing changes (orchard.md §4 "Health check"). Unlike Orchard, a failed `OnFailure` VM is always restarted after
 * a bounded back-off, even if it failed again right after a restart (Orchard stops such a VM forever, silently).
 */
export function checkVmHealth(
  vm: Vm,
  workers: ReadonlyMap<string, Worker>,
  now: Date,
  offlineTimeoutMs: number,
): Vm | undefined {
  const transition = healthTransition(vm, workers, now, offlineTimeoutMs);
  if (transition) {
    // The listeners a worker reported belong to the VM's state before the transition (orchard-2026.md §1.2.2).
    return { ...transition, observedEndpoints: undefined };
  }
  return endpointsUnsupported(vm, workers);
}

/**
 * A VM that got endpoints while on a worker without capability `vm-endpoints` keeps running there, with every endpoint
 * observed as `error` (orchard-2026.md §1.2.2); undefined when that is not the case or already written.
 */
export function endpointsUnsupported(vm: Vm, workers: ReadonlyMap<string, Worker>): Vm | undefined {
  const worker = workers.get(vm.worker);
  const endpoints = vm.endpoints ?? [];
  if (
    endpoints.length === 0 ||
    !isVmScheduled(vm) ||
    !worker ||
    (worker.capabilities ?? []).includes(WORKER_CAPABILITY_VM_ENDPOINTS)
  ) {
    return undefined;
  }
  const observed: VmObservedEndpoint[] = endpoints.map((e) => ({
    name: e.name,
    protocol: e.protocol,
    state: 'error',
    message: ENDPOINTS_UNSUPPORTED_MESSAGE,
  }));
  return JSON.stringify(observed) === JSON.stringify(vm.observedEndpoints ?? [])
    ? undefined
    : { ...vm, observedEndpoints: observed };
}

function healthTransition(
  vm: Vm,
  workers: ReadonlyMap<string, Worker>,
  now: Date,
  offlineTimeoutMs: number,
): Vm | undefined {
  if (vm.restart_policy === 'OnFailure' && vm.status === 'failed' && vm.powerState === 'running') {
    const last = vm.restarted_at === ZERO_TIME ? 0 : Date.parse(vm.restarted_at);
    if (now.getTime() - last >= restartBackoffMs(vm.restart_count)) {
      const restartCount = vm.restart_count + 1;
      const localName = vmLocalName(vm.name, vm.uid, restartCount);
      return {
        ...vm,
        status: 'pending',
        status_message: '',
        worker: '',
        assignedCPU: 0,
        assignedMemory: 0,
        restarted_at: now.toISOString(),
        restart_count: restartCount,
        scheduled_at: ZERO_TIME,
        started_at: ZERO_TIME,
        localName,
        tartName: localName,
        conditions: [{ type: 'scheduled', state: 'false' }],
      };
    }
  }
  if (!isVmScheduled(vm)) {
    return undefined;
  }
  if (vm.status === 'failed') {
    // Frees the worker's resources; the VM keeps its worker name so people can see where it failed.
    return {
      ...vm,
      conditions: setCondition(setCondition(vm.conditions, 'scheduled', false), 'running', false),
    };
  }
  const worker = workers.get(vm.worker);
  if (!worker) {
    return { ...vm, status: 'failed', status_message: VM_WORKER_DELETED };
  }
  if (isWorkerOffline(worker, now, offlineTimeoutMs)) {
    return { ...vm, status: 'failed', status_message: VM_WORKER_OFFLINE };
  }
  const running = vm.conditions.find((c) => c.type === 'running')?.state === 'true';
  if (vm.powerState !== 'running' && !running) {
    return { ...vm, conditions: setCondition(vm.conditions, 'scheduled', false) };
  }
  return undefined;
}
