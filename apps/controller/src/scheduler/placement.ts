import {
  DEFAULT_CPU,
  DEFAULT_MEMORY_MIB,
  isVmScheduled,
  workerPortClaims,
  type SchedulerProfile,
  type Vm,
  type Worker,
} from '@grove/resources';
import { pendingReason } from './pending-reason';
import {
  addResources,
  NO_USAGE,
  placementShape,
  shapeKey,
  type PlacementShape,
  type WorkerUsage,
} from './placement-shape';
import { runSliced } from './slices';
import { refusal, viewShape, viewWorkers, type ShapeView, type WorkerView } from './worker-fit';

/** `a.localeCompare(b)`, the order of names, with one collator for all comparisons (much cheaper than a call each). */
const byName = new Intl.Collator().compare;

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
  /** The pending VMs to place. Scheduled VMs among them count towards their worker's usage. */
  vms: readonly Vm[];
  workers: readonly Worker[];
  profile: SchedulerProfile;
  now: Date;
  offlineTimeoutMs: number;
  /** What the VMs not in `vms` take of each worker (the database sums it; issue 13). */
  usage?: ReadonlyMap<string, WorkerUsage>;
}

export interface PlacementPlan {
  assignments: Assignment[];
  unplaced: Unplaced[];
  /** Each worker's usage once the assignments are made. */
  usage: Map<string, WorkerUsage>;
}

/** A VM waits for placement when it is pending, wants to run and holds no worker yet. */
export function awaitsPlacement(vm: Vm): boolean {
  return vm.status === 'pending' && vm.powerState === 'running' && !isVmScheduled(vm);
}

/**
 * One scheduling pass over a consistent snapshot (orchard.md §4): pending VMs in FIFO order (creation time, then
 * name); for each, the workers ordered by how many VMs they hold — most first to pack (`optimize-utilization`),
 * fewest first to spread (`distribute-load`) — with ties broken by worker name, so the result is deterministic; the
 * first suitable worker wins. Usage grows as the pass assigns.
 */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const steps = placementSteps(input);
  for (;;) {
    const step = steps.next();
    if (step.done) {
      return step.value;
    }
  }
}

/** `planPlacement` that lets the event loop run every `sliceMs` (the controller serves requests meanwhile). */
export function planPlacementSliced(input: PlacementInput, sliceMs?: number): Promise<PlacementPlan> {
  return runSliced(placementSteps(input), sliceMs);
}

/** A worker during a pass, with its usage as the pass goes (the pass's own copy). */
interface Slot {
  view: WorkerView;
  /** Position in `input.workers`. */
  index: number;
  /** Position by name (`localeCompare`), the tie-break of both profiles. */
  nameRank: number;
  usage: WorkerUsage;
}

/** Pending VMs of one shape during a pass. */
interface ShapeState {
  view: ShapeView;
  /** Workers (by index) that refused this shape: they refuse it for the rest of the pass, usage only grows. */
  refused: Uint8Array;
  /** Every worker at a position before this one in the order refused the shape. */
  start: number;
  /** How many moves of the order `start` accounts for. */
  seen: number;
  /** Every worker refused it: the shape's remaining VMs wait. */
  stuck: boolean;
  /** Why they wait, once the pass is done. */
  reason: string;
}

/** Moves of the order a shape catches up with one by one; after more, it looks from the start again. */
const MAX_CATCH_UP = 32;

/**
 * The pass as steps (a yield every few VMs). It costs O(pending VMs + shapes × workers) checks, not O(VMs × workers):
 * a worker that refuses a shape is not asked again for it (nor walked past again when the workers before it all
 * refused), and once none is left the shape's other VMs wait at once. Workers stay sorted by the profile's order, each
 * moved to its new place when it gets a VM.
 */
function* placementSteps(input: PlacementInput): Generator<void, PlacementPlan, void> {
  const views = viewWorkers(input.workers, input.now, input.offlineTimeoutMs);
  const usage = yield* startingUsage(input);
  const slots: Slot[] = views.map((view, index) => ({
    view,
    index,
    nameRank: 0,
    usage: usage.get(view.worker.name) ?? { vms: 0, resources: {}, ports: [] },
  }));
  [...slots]
    .sort((a, b) => byName(a.view.worker.name, b.view.worker.name))
    .forEach((slot, rank) => (slot.nameRank = rank));
  const direction = input.profile === 'distribute-load' ? 1 : -1;
  const before = (a: Slot, b: Slot) => direction * (a.usage.vms - b.usage.vms) || a.nameRank - b.nameRank;
  const order = [...slots].sort(before);
  /** Each placement as [the position it left, the position it took]: how `ShapeState.start` follows the order. */
  const moves: Array<[number, number]> = [];

  const pending = yield* fifo(input.vms);
  const shapes = new Map<string, ShapeState>();
  /** The shape of each pending VM left waiting, by its place in `pending`. */
  const waitingAs: Array<ShapeState | undefined> = [];
  const assignments: Assignment[] = [];
  for (let n = 0; n < pending.length; n++) {
    if (n % 64 === 63) {
      yield;
    }
    const vm = pending[n];
    const shape = placementShape(vm);
    const key = shapeKey(shape);
    let state = shapes.get(key);
    if (!state) {
      const view = viewShape(shape);
      state = { view, refused: new Uint8Array(slots.length), start: 0, seen: moves.length, stuck: false, reason: '' };
      shapes.set(key, state);
    }
    if (state.stuck) {
      waitingAs[n] = state;
      continue;
    }
    catchUp(state, moves);
    let at = -1;
    for (let p = state.start; p < order.length; p++) {
      const slot = order[p];
      if (!state.refused[slot.index]) {
        if (refusal(state.view, slot.view, slot.usage) === undefined) {
          at = p;
          break;
        }
        state.refused[slot.index] = 1;
      }
      if (p === state.start) {
        state.start++;
      }
    }
    if (at < 0) {
      state.stuck = true;
      waitingAs[n] = state;
      continue;
    }
    const [chosen] = order.splice(at, 1);
    chosen.usage.vms++;
    addResources(chosen.usage.resources, shape.resources);
    chosen.usage.ports.push(...state.view.claims);
    const to = insertionPoint(order, chosen, before);
    order.splice(to, 0, chosen);
    moves.push([at, to]);
    const worker = chosen.view.worker;
    assignments.push({
      vm: vm.name,
      uid: vm.uid,
      worker: worker.name,
      assignedCPU: vm.cpu || worker.defaultCPU || DEFAULT_CPU,
      assignedMemory: vm.memory || worker.defaultMemory || DEFAULT_MEMORY_MIB,
    });
  }

  const final = new Map(usage);
  for (const slot of slots) {
    final.set(slot.view.worker.name, slot.usage);
  }
  // The reason of a waiting VM is that of its shape against the workers as the pass leaves them.
  for (const state of shapes.values()) {
    if (state.stuck) {
      yield;
      state.reason = reasonAgainst(state.view, views, final);
    }
  }
  const unplaced: Unplaced[] = [];
  for (let n = 0; n < pending.length; n++) {
    if (n % 256 === 255) {
      yield;
    }
    const state = waitingAs[n];
    if (state) {
      unplaced.push({ vm: pending[n].name, uid: pending[n].uid, reason: state.reason });
    }
  }
  return { assignments, unplaced, usage: final };
}

/**
 * Moves `state.start` along with the placements made since the shape last looked: a worker leaving a position before it
 * shortens the refused stretch by one, a worker arriving before its end ends it there.
 */
function catchUp(state: ShapeState, moves: ReadonlyArray<[number, number]>): void {
  if (moves.length - state.seen > MAX_CATCH_UP) {
    state.start = 0;
  } else {
    for (let k = state.seen; k < moves.length; k++) {
      const [from, to] = moves[k];
      if (from < state.start) {
        state.start--;
      }
      state.start = Math.min(state.start, to);
    }
  }
  state.seen = moves.length;
}

/** The pass's own copy of the usage given, plus the scheduled VMs among `input.vms`. */
function* startingUsage(input: PlacementInput): Generator<void, Map<string, WorkerUsage>, void> {
  const usage = new Map<string, WorkerUsage>();
  const own = (name: string) => {
    let held = usage.get(name);
    if (!held) {
      held = { vms: 0, resources: {}, ports: [] };
      usage.set(name, held);
    }
    return held;
  };
  for (const [name, given] of input.usage ?? []) {
    const held = own(name);
    held.vms += given.vms;
    addResources(held.resources, given.resources);
    held.ports.push(...given.ports);
  }
  for (let n = 0; n < input.vms.length; n++) {
    if (n % 256 === 255) {
      yield;
    }
    const vm = input.vms[n];
    if (isVmScheduled(vm)) {
      const held = own(vm.worker);
      held.vms++;
      addResources(held.resources, vm.resources ?? {});
      held.ports.push(...workerPortClaims(vm));
    }
  }
  return usage;
}

/** The VMs awaiting placement, first come first served: by creation time, then name. */
function* fifo(vms: readonly Vm[]): Generator<void, Vm[], void> {
  const pending: Array<{ vm: Vm; created: number }> = [];
  for (let n = 0; n < vms.length; n++) {
    if (n % 256 === 255) {
      yield;
    }
    if (awaitsPlacement(vms[n])) {
      pending.push({ vm: vms[n], created: Date.parse(vms[n].createdAt) });
    }
  }
  yield;
  pending.sort((a, b) => a.created - b.created || byName(a.vm.name, b.vm.name));
  return pending.map((p) => p.vm);
}

/** Where `item` goes in the sorted `list` (after its equals). */
function insertionPoint<T>(list: readonly T[], item: T, before: (a: T, b: T) => number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (before(list[mid], item) <= 0) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

function reasonAgainst(
  shape: ShapeView,
  views: readonly WorkerView[],
  usage: ReadonlyMap<string, WorkerUsage>,
): string {
  return pendingReason(
    views.map((view) => ({
      worker: view.worker.name,
      cause: refusal(shape, view, usage.get(view.worker.name) ?? NO_USAGE) ?? 'can take it at the next pass',
    })),
  );
}

/**
 * The `status_message` of the pending VMs of `shape` that a pass left waiting, against the workers and their usage as
 * the pass left them (`PlacementPlan.usage`).
 */
export function pendingReasonFor(
  shape: PlacementShape,
  workers: readonly Worker[],
  usage: ReadonlyMap<string, WorkerUsage>,
  now: Date,
  offlineTimeoutMs: number,
): string {
  return reasonAgainst(viewShape(shape), viewWorkers(workers, now, offlineTimeoutMs), usage);
}
