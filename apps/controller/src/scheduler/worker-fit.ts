import {
  exposedWorkerPorts,
  isWorkerOffline,
  missingResources,
  workerPortClaimsFit,
  type Worker,
  type WorkerPortClaim,
  WORKER_CAPABILITY_HOST_PROCESSES,
  WORKER_CAPABILITY_VM_ENDPOINTS,
  WORKER_CAPABILITY_VM_EXPOSED_PORTS,
} from '@grove/resources';
import { NO_USAGE, shapePortClaims, type PlacementShape, type WorkerUsage } from './placement-shape';

/** A worker as one pass judges it: what does not change during the pass is worked out once. */
export interface WorkerView {
  worker: Worker;
  offline: boolean;
  capabilities: ReadonlySet<string>;
}

export function viewWorkers(workers: readonly Worker[], now: Date, offlineTimeoutMs: number): WorkerView[] {
  return workers.map((worker) => ({
    worker,
    offline: isWorkerOffline(worker, now, offlineTimeoutMs),
    capabilities: new Set(worker.capabilities ?? []),
  }));
}

/** A shape with what the checks derive from it, worked out once per pass. */
export interface ShapeView {
  shape: PlacementShape;
  exposed: number[];
  claims: WorkerPortClaim[];
}

export function viewShape(shape: PlacementShape): ShapeView {
  return { shape, exposed: exposedWorkerPorts(shape), claims: shapePortClaims(shape) };
}

/**
 * Why the worker cannot take a VM of this shape beside what it holds, or undefined when it can. The checks run in a
 * fixed order and the first that fails is the reason.
 */
export function refusal(s: ShapeView, view: WorkerView, usage: WorkerUsage): string | undefined {
  const { worker } = view;
  const { shape } = s;
  if (view.offline) {
    return 'offline';
  }
  if (worker.scheduling_paused) {
    return 'scheduling paused';
  }
  if (worker.arch !== shape.arch) {
    return `architecture ${worker.arch}`;
  }
  if (worker.runtime !== shape.runtime) {
    return `runtime ${worker.runtime}`;
  }
  const missing = Object.entries(shape.labels)
    .filter(([k, v]) => !Object.hasOwn(worker.labels, k) || worker.labels[k] !== v)
    .map(([k, v]) => `${k}=${v}`);
  if (missing.length > 0) {
    return `lacks label${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  }
  // Only a worker that knows `netSoftnetExpose` passes it on to Tart, and two VMs cannot both have one of its ports
  // (orchard-2026.md §1.2.9).
  if (s.exposed.length > 0 && !view.capabilities.has(WORKER_CAPABILITY_VM_EXPOSED_PORTS)) {
    return `lacks capability ${WORKER_CAPABILITY_VM_EXPOSED_PORTS}`;
  }
  // The worker listens for endpoints itself (orchard-2026.md §1.2.2).
  if (shape.endpointRanges.length > 0 && !view.capabilities.has(WORKER_CAPABILITY_VM_ENDPOINTS)) {
    return `lacks capability ${WORKER_CAPABILITY_VM_ENDPOINTS}`;
  }
  // Host processes run on the worker's host (orchard-2026.md §1.2.3); a worker may refuse them (--no-host-processes).
  if (shape.hostProcesses && !view.capabilities.has(WORKER_CAPABILITY_HOST_PROCESSES)) {
    return `lacks capability ${WORKER_CAPABILITY_HOST_PROCESSES}`;
  }
  if (s.claims.length > 0) {
    const pinned = new Set(usage.ports.filter((c) => c.min === c.max).map((c) => c.min));
    const clash = s.exposed.filter((port) => pinned.has(port));
    if (clash.length > 0) {
      return `port${clash.length > 1 ? 's' : ''} ${clash.join(', ')} exposed by another VM`;
    }
    // Endpoint ranges and pins, with the exposed ports, must each get a worker port of their own beside the other VMs'.
    if (!workerPortClaimsFit([...usage.ports, ...s.claims])) {
      return 'worker ports of its endpoints taken by other VMs';
    }
  }
  const short = missingResources(shape.resources, worker.resources, usage.resources);
  if (short.length > 0) {
    return `not enough ${short.join(', ')}`;
  }
  return undefined;
}

/**
 * At most how many VMs of this shape the workers can take beside what they hold: for each worker that can take one,
 * how many times the free amount of each requested resource covers the request (once at most when the shape pins a
 * worker port; without a resource request, any number). An upper bound: VMs of other shapes and port ranges may leave
 * room for fewer. A pass reads no more pending VMs of a shape than this (issue 13).
 */
export function placeableBound(
  s: ShapeView,
  workers: readonly WorkerView[],
  usage: ReadonlyMap<string, WorkerUsage>,
): number {
  const pins = s.claims.some((c) => c.min === c.max);
  let total = 0;
  for (const view of workers) {
    const used = usage.get(view.worker.name) ?? NO_USAGE;
    if (refusal(s, view, used) !== undefined) {
      continue;
    }
    let room = pins ? 1 : Infinity;
    for (const [key, wanted] of Object.entries(s.shape.resources)) {
      if (wanted > 0) {
        const offered = Object.hasOwn(view.worker.resources, key) ? view.worker.resources[key] : 0;
        const taken = Object.hasOwn(used.resources, key) ? used.resources[key] : 0;
        room = Math.min(room, Math.floor((offered - taken) / wanted));
      }
    }
    total += room;
    if (total === Infinity) {
      return total;
    }
  }
  return total;
}
