import {
  DEFAULT_CLUSTER_SETTINGS,
  isVmScheduled,
  newVm,
  setCondition,
  sumResources,
  workerPortClaims,
  type SchedulerProfile,
  type Vm,
  type Worker,
} from '@grove/resources';
import { awaitsPlacement, planPlacement, type Assignment } from './placement';
import { placementShape, shapeKey, type WorkerUsage } from './placement-shape';
import { placeableBound, refusal, viewShape, viewWorkers } from './worker-fit';

// The pass's shortcuts (a worker that refused a shape is not asked again, shapes that fit nowhere wait at once, the
// stretch of workers that all refused is not walked again, the service reads only as many VMs of a shape as could be
// placed) must not change a single decision: random fleets are planned both ways and compared with a plain
// implementation of the rule (orchard.md §4: FIFO, workers ordered by VM count per profile, ties by name, first fit).

const NOW = new Date('2026-11-23T12:00:00Z');
const OFFLINE = 180_000;

/** A small deterministic generator (mulberry32), so that a failing seed can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fleet(seed: number): { vms: Vm[]; workers: Worker[] } {
  const r = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(r() * items.length)];
  const chance = (p: number) => r() < p;
  const workers: Worker[] = Array.from({ length: 1 + Math.floor(r() * 12) }, (_, i) => ({
    name: `${pick(['mac', 'Mac', 'build', 'b'])}-${pick(['x', 'y', 'Z'])}${i}`,
    createdAt: NOW.toISOString(),
    last_seen: new Date(NOW.getTime() - (chance(0.1) ? OFFLINE + 1000 : 0)).toISOString(),
    machine_id: `m${i}`,
    scheduling_paused: chance(0.1),
    resources: { 'org.cirruslabs.tart-vms': Math.floor(r() * 4), ...(chance(0.3) ? { gpu: Math.floor(r() * 3) } : {}) },
    labels: { ...(chance(0.5) ? { zone: pick(['a', 'b']) } : {}), ...(chance(0.3) ? { gpu: 'yes' } : {}) },
    defaultCPU: 0,
    defaultMemory: 0,
    arch: chance(0.1) ? 'amd64' : 'arm64',
    runtime: 'tart',
    capabilities: ['vm-exposed-ports', 'vm-endpoints', 'host-processes'].filter(() => chance(0.7)),
  }));
  const vms = Array.from({ length: Math.floor(r() * 40) }, (_, i): Vm => {
    const base = newVm(
      {
        name: `vm-${pick(['a', 'B', 'c'])}${i}`,
        image: 'img',
        os: chance(0.2) ? 'linux' : undefined,
        labels: { ...(chance(0.3) ? { zone: pick(['a', 'b']) } : {}), ...(chance(0.1) ? { gpu: 'yes' } : {}) },
        resources: chance(0.2) ? { 'org.cirruslabs.tart-vms': 1, gpu: 1 } : undefined,
        netSoftnetExpose: chance(0.1) ? [pick(['2222:22', '8080:80'])] : undefined,
        endpoints: chance(0.1)
          ? [{ name: 'e', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 9000, max: 9001 } }]
          : undefined,
      },
      DEFAULT_CLUSTER_SETTINGS,
      `00000000-0000-4000-8000-${String(seed).padStart(6, '0')}${String(i).padStart(6, '0')}`,
      // Ties in creation time are frequent: the name decides then.
      new Date(NOW.getTime() - 60_000 + Math.floor(r() * 20) * 1000),
    );
    if (chance(0.4) && workers.length > 0) {
      const on = chance(0.1) ? 'gone' : pick(workers).name;
      return { ...base, worker: on, conditions: setCondition(base.conditions, 'scheduled', true), status: 'running' };
    }
    return chance(0.1) ? { ...base, powerState: 'stopped' } : base;
  });
  return { vms, workers };
}

function usageOfScheduled(vms: readonly Vm[]): Map<string, WorkerUsage> {
  const usage = new Map<string, WorkerUsage>();
  for (const vm of vms.filter(isVmScheduled)) {
    const held = usage.get(vm.worker) ?? { vms: 0, resources: {}, ports: [] };
    usage.set(vm.worker, {
      vms: held.vms + 1,
      resources: sumResources([held.resources, vm.resources]),
      ports: [...held.ports, ...workerPortClaims(vm)],
    });
  }
  return usage;
}

/** The rule, plainly: every pending VM asks every worker, in the profile's order, anew. */
function reference(vms: Vm[], workers: Worker[], profile: SchedulerProfile): Assignment[] {
  const usage = usageOfScheduled(vms);
  const views = viewWorkers(workers, NOW, OFFLINE);
  const count = (w: Worker) => usage.get(w.name)?.vms ?? 0;
  const direction = profile === 'distribute-load' ? 1 : -1;
  const assignments: Assignment[] = [];
  const pending = vms
    .filter(awaitsPlacement)
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.name.localeCompare(b.name));
  for (const vm of pending) {
    const order = [...views].sort(
      (a, b) => direction * (count(a.worker) - count(b.worker)) || a.worker.name.localeCompare(b.worker.name),
    );
    const shape = viewShape(placementShape(vm));
    const chosen = order.find(
      (v) => refusal(shape, v, usage.get(v.worker.name) ?? { vms: 0, resources: {}, ports: [] }) === undefined,
    );
    if (chosen) {
      const name = chosen.worker.name;
      const held = usage.get(name) ?? { vms: 0, resources: {}, ports: [] };
      usage.set(name, {
        vms: held.vms + 1,
        resources: sumResources([held.resources, vm.resources]),
        ports: [...held.ports, ...workerPortClaims(vm)],
      });
      assignments.push({
        vm: vm.name,
        uid: vm.uid,
        worker: name,
        assignedCPU: vm.cpu || chosen.worker.defaultCPU || 4,
        assignedMemory: vm.memory || chosen.worker.defaultMemory || 8192,
      });
    }
  }
  return assignments;
}

const SEEDS = Array.from({ length: 400 }, (_, i) => i + 1);
const PROFILES: SchedulerProfile[] = ['optimize-utilization', 'distribute-load'];

describe('placement shortcuts change no decision (random fleets)', () => {
  it.each(PROFILES)('places exactly as the plain rule does (%s)', (profile) => {
    for (const seed of SEEDS) {
      const { vms, workers } = fleet(seed);
      const plan = planPlacement({ vms, workers, profile, now: NOW, offlineTimeoutMs: OFFLINE });
      expect({ seed, assignments: plan.assignments }).toEqual({ seed, assignments: reference(vms, workers, profile) });
      const placed = new Set(plan.assignments.map((a) => a.uid));
      expect(plan.unplaced.map((u) => u.uid).sort()).toEqual(
        vms
          .filter((vm) => awaitsPlacement(vm) && !placed.has(vm.uid))
          .map((vm) => vm.uid)
          .sort(),
      );
    }
  });

  it.each(PROFILES)(
    'places the same with the usage given apart and only as many VMs of a shape as could fit (%s)',
    (profile) => {
      for (const seed of SEEDS) {
        const { vms, workers } = fleet(seed);
        const whole = planPlacement({ vms, workers, profile, now: NOW, offlineTimeoutMs: OFFLINE });
        // As the controller does it: usage summed apart, of each shape at most `placeableBound` VMs, oldest first.
        const usage = usageOfScheduled(vms);
        const views = viewWorkers(workers, NOW, OFFLINE);
        const byShape = new Map<string, Vm[]>();
        for (const vm of vms
          .filter(awaitsPlacement)
          .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.name.localeCompare(b.name))) {
          const key = shapeKey(placementShape(vm));
          byShape.set(key, [...(byShape.get(key) ?? []), vm]);
        }
        const candidates = [...byShape.values()].flatMap((group) =>
          group.slice(0, placeableBound(viewShape(placementShape(group[0])), views, usage)),
        );
        const part = planPlacement({ vms: candidates, workers, profile, now: NOW, offlineTimeoutMs: OFFLINE, usage });
        expect({ seed, assignments: part.assignments }).toEqual({ seed, assignments: whole.assignments });
        expect(part.usage).toEqual(whole.usage);
      }
    },
  );
});
