import { Injectable } from '@nestjs/common';
import { setCondition, type SchedulerProfile, type Vm, type Worker } from '@grove/resources';
import { SchedulingMetrics } from '../metrics/scheduling-metrics';
import { VmStartTraces } from '../telemetry/vm-start-traces';
import { VmSchedulingService, type VmChange } from '../vms/vm-scheduling.service';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';
import { planPlacementSliced, pendingReasonFor, type Assignment } from './placement';
import { shapeFromColumn, type WorkerUsage } from './placement-shape';
import { pauseIfDue } from './slices';
import { placeableBound, viewShape, viewWorkers } from './worker-fit';

/** VMs written per statement: building and sending their documents stays a few milliseconds of the event loop. */
const WRITE_BATCH = 100;
/** Pending VMs read per statement when their reason is rewritten. */
const READ_BATCH = 500;
/**
 * Pending VMs a pass places at most; a pass that could place more asks for the next one at once. Reading and planning
 * the whole of a burst of 10,000 in one pass would hold the event loop and memory for no gain.
 */
const MAX_CANDIDATES = 1_000;

export interface PlacementRound {
  /** VMs created (or last written) up to this version take part (`VmSchedulingService.lastVersion`). */
  lastVersion: number;
  /** Read after `lastVersion`: every VM of the round is older than what they say. */
  workers: readonly Worker[];
  usage: ReadonlyMap<string, WorkerUsage>;
  profile: SchedulerProfile;
  now: Date;
  offlineTimeoutMs: number;
}

export interface PlacementOutcome {
  assigned: number;
  /** Decisions not written because their VM changed meanwhile: another pass should look at those VMs again. */
  conflicts: number;
  /** Pending VMs that might fit were left for the next pass (`MAX_CANDIDATES`). */
  more: boolean;
}

/**
 * The placement half of a pass (issue 13). It reads the pending VMs counted by placement shape, then of each shape only
 * as many VMs, oldest first, as the workers could take at most (`placeableBound`: none for a shape that fits nowhere),
 * plans with the pure `planPlacement` in slices, writes the placements in batches and gives every shape whose VMs
 * still wait one reason, written only to its VMs that do not have it yet.
 */
@Injectable()
export class PlacementPass {
  constructor(
    private readonly vms: VmSchedulingService,
    private readonly sessions: WorkerSessionRegistry,
    private readonly metrics: SchedulingMetrics,
    private readonly vmTraces: VmStartTraces,
  ) {}

  /** `MAX_CANDIDATES`; tests lower it. */
  maxCandidates = MAX_CANDIDATES;

  async run(round: PlacementRound): Promise<PlacementOutcome> {
    const shapes = (await this.vms.pendingShapes(round.lastVersion)).map((s) => ({
      ...s,
      shape: shapeFromColumn(s.placement),
    }));
    if (shapes.length === 0) {
      return { assigned: 0, conflicts: 0, more: false };
    }
    const views = viewWorkers(round.workers, round.now, round.offlineTimeoutMs);
    const wanted = shapes
      .map((s) => ({ key: s.key, limit: Math.min(s.count, placeableBound(viewShape(s.shape), views, round.usage)) }))
      .filter((w) => w.limit > 0);
    const candidates = await this.vms.pendingOfShapes(round.lastVersion, wanted, this.maxCandidates);
    const more = candidates.length >= this.maxCandidates;
    const plan = await planPlacementSliced({
      vms: candidates.map((c) => c.vm),
      workers: round.workers,
      profile: round.profile,
      now: round.now,
      offlineTimeoutMs: round.offlineTimeoutMs,
      usage: round.usage,
    });

    const shapeOf = new Map(candidates.map((c) => [c.vm.uid, c]));
    const placed = new Map<string, number>();
    const notify = new Set<string>();
    let assigned = 0;
    let conflicts = 0;
    let slice = performance.now();
    for (let i = 0; i < plan.assignments.length; i += WRITE_BATCH) {
      const changes = plan.assignments.slice(i, i + WRITE_BATCH).map((a): VmChange => {
        const before = shapeOf.get(a.uid)!.vm;
        return { before, after: placedVm(before, a, round.now) };
      });
      const written = await this.vms.writeIfUnchanged(changes);
      this.metrics.placed(written, round.now);
      this.vmTraces.placed(written, round.now);
      for (const vm of written) {
        const key = shapeOf.get(vm.uid)!.key;
        placed.set(key, (placed.get(key) ?? 0) + 1);
        notify.add(vm.worker);
      }
      assigned += written.length;
      conflicts += changes.length - written.length;
      slice = await pauseIfDue(slice);
    }
    // Workers also sync periodically; the nudge only makes new VMs start sooner. The worker may hold its session with
    // another replica: the message reaches it there.
    for (const worker of notify) {
      this.sessions.notifyAnywhere(worker, { sync_vms: {} });
    }

    // A shape whose VMs were not all read may fit after all: its reason waits for the pass that reads them.
    for (const s of more ? [] : shapes) {
      if ((placed.get(s.key) ?? 0) < s.count) {
        const reason = pendingReasonFor(s.shape, round.workers, plan.usage, round.now, round.offlineTimeoutMs);
        await this.explain(round.lastVersion, s.key, reason);
      }
    }
    return { assigned, conflicts, more };
  }

  /** Gives the waiting VMs of a shape `reason`, batch by batch, skipping those that have it already. */
  private async explain(lastVersion: number, key: string, reason: string): Promise<void> {
    let slice = performance.now();
    for (;;) {
      const vms = await this.vms.pendingWithOtherMessage(lastVersion, key, reason, READ_BATCH);
      // A written VM gets a version past `lastVersion`, and so does one that someone else changed meanwhile: neither
      // comes back in the next batch.
      for (let i = 0; i < vms.length; i += WRITE_BATCH) {
        const batch = vms.slice(i, i + WRITE_BATCH);
        await this.vms.writeIfUnchanged(
          batch.map((before) => ({ before, after: { ...before, status_message: reason } })),
        );
        slice = await pauseIfDue(slice);
      }
      if (vms.length < READ_BATCH) {
        return;
      }
    }
  }
}

/** The VM placed as `assignment` says. */
function placedVm(vm: Vm, assignment: Assignment, now: Date): Vm {
  return {
    ...vm,
    worker: assignment.worker,
    assignedCPU: assignment.assignedCPU,
    assignedMemory: assignment.assignedMemory,
    scheduled_at: now.toISOString(),
    status_message: '',
    conditions: setCondition(vm.conditions, 'scheduled', true),
    // Cleared with every transition the scheduler writes (orchard-2026.md §1.2.2).
    observedEndpoints: undefined,
  };
}
