import {
  workerPortClaims,
  type Labels,
  type Resources,
  type Vm,
  type VmEndpoint,
  type WorkerPortClaim,
} from '@grove/resources';

/**
 * What decides which workers can take a VM, and nothing else: two pending VMs of one shape are alike to the scheduler.
 * A worker that refuses a VM refuses every VM of its shape for the rest of the pass (usage only grows during a pass),
 * so a pass decides once per shape and per worker rather than once per VM and per worker (issue 13). The database keeps
 * the same projection of every VM in the column `vms.placement` (migration AddSchedulingColumns), with these field
 * names, so that a pass can count the pending VMs by shape without reading them.
 */
export interface PlacementShape {
  arch: string;
  runtime: string;
  labels: Labels;
  resources: Resources;
  netSoftnetExpose: string[];
  /** Each endpoint's `workerPortRange`, null for one without (the OS picks its port): their count and claims. */
  endpointRanges: Array<{ min: number; max: number } | null>;
  /** Whether the VM has host processes. */
  hostProcesses: boolean;
}

/** What the VMs already on a worker take of it. */
export interface WorkerUsage {
  /** How many VMs it holds (the profiles order workers by this). */
  vms: number;
  resources: Resources;
  ports: WorkerPortClaim[];
}

export const NO_USAGE: WorkerUsage = Object.freeze({ vms: 0, resources: {}, ports: [] });

export function placementShape(vm: Vm): PlacementShape {
  return {
    arch: vm.arch,
    runtime: vm.runtime,
    labels: vm.labels ?? {},
    resources: vm.resources ?? {},
    netSoftnetExpose: vm.netSoftnetExpose ?? [],
    endpointRanges: (vm.endpoints ?? []).map((e) => e.workerPortRange ?? null),
    hostProcesses: (vm.hostProcesses ?? []).length > 0,
  };
}

/** A key equal for equal shapes (fields in a fixed order). */
export function shapeKey(shape: PlacementShape): string {
  return JSON.stringify([
    shape.arch,
    shape.runtime,
    shape.labels,
    shape.resources,
    shape.netSoftnetExpose,
    shape.endpointRanges,
    shape.hostProcesses,
  ]);
}

/**
 * The shape as the database stores it (`vms.placement`). Anything malformed counts as absent, as for a document: the
 * generated column already normalises the types.
 */
export function shapeFromColumn(value: unknown): PlacementShape {
  const v = (value ?? {}) as Partial<PlacementShape>;
  return {
    arch: typeof v.arch === 'string' ? v.arch : '',
    runtime: typeof v.runtime === 'string' ? v.runtime : '',
    labels: isObject(v.labels) ? (v.labels as Labels) : {},
    resources: isObject(v.resources) ? (v.resources as Resources) : {},
    netSoftnetExpose: Array.isArray(v.netSoftnetExpose) ? v.netSoftnetExpose : [],
    endpointRanges: Array.isArray(v.endpointRanges) ? v.endpointRanges : [],
    hostProcesses: v.hostProcesses === true,
  };
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The worker ports a VM of this shape claims (`workerPortClaims` of the VM). */
export function shapePortClaims(shape: Pick<PlacementShape, 'netSoftnetExpose' | 'endpointRanges'>): WorkerPortClaim[] {
  const endpoints = shape.endpointRanges.map((range) => (range ? { workerPortRange: range } : {})) as VmEndpoint[];
  return workerPortClaims({ netSoftnetExpose: shape.netSoftnetExpose, endpoints });
}

/** Adds `more` to `total` in place (missing keys count as zero; keys are own properties, `__proto__` included). */
export function addResources(total: Resources, more: Resources): void {
  for (const [key, value] of Object.entries(more)) {
    if (Object.hasOwn(total, key)) {
      total[key] += value;
    } else {
      Object.defineProperty(total, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }
}

/** What each worker's scheduled VMs take of it, from the sums the database made (`VmSchedulingService.loadByWorker`). */
export function usageFromLoads(
  loads: Iterable<{ worker: string; vms: number; resources: Resources; portHolders: unknown[] }>,
): Map<string, WorkerUsage> {
  const usage = new Map<string, WorkerUsage>();
  for (const load of loads) {
    usage.set(load.worker, {
      vms: load.vms,
      resources: load.resources,
      ports: load.portHolders.flatMap((holder) => shapePortClaims(shapeFromColumn(holder))),
    });
  }
  return usage;
}
