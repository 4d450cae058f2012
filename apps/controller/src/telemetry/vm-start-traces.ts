import { Injectable } from '@nestjs/common';
import { ZERO_TIME, type Vm } from '@grove/resources';
import { formatTraceparent, vmStartTrace, type SpanAttributes } from '@grove/telemetry';
import { ControllerTelemetry } from './controller-telemetry';

type VmTimes = Pick<Vm, 'uid' | 'name' | 'image' | 'worker' | 'restart_count' | 'createdAt' | 'restarted_at'>;

/** When a VM's current start began: its creation, or its last restart by its restart policy. */
function startedWaiting(vm: VmTimes): number {
  const restarted = vm.restarted_at && vm.restarted_at !== ZERO_TIME ? Date.parse(vm.restarted_at) : Number.NaN;
  return Math.max(Date.parse(vm.createdAt), Number.isNaN(restarted) ? -Infinity : restarted);
}

function timeOf(text: string): number | undefined {
  const time = text && text !== ZERO_TIME ? Date.parse(text) : Number.NaN;
  return Number.isFinite(time) ? time : undefined;
}

function attributesOf(vm: VmTimes): SpanAttributes {
  return {
    'grove.vm.name': vm.name,
    'grove.vm.uid': vm.uid,
    'grove.vm.image': vm.image,
    'grove.vm.restart_count': vm.restart_count,
    'grove.worker.name': vm.worker || undefined,
  };
}

/**
 * The controller's spans of a VM start (issue 14), recorded when the scheduler places the VM and when its worker
 * reports it running (or failed), with the times the VM keeps: `vm.start` (the root: created or restarted → running),
 * `vm.schedule` (→ placed) and `vm.worker-start` (placed → running). The trace and root span ids are derived from the
 * VM's uid and restart count (`vmStartTrace`), so the worker's spans of the start (`worker.vm.pull`, `…clone`, …) join
 * the same trace without a protocol field, whichever replica records what.
 */
@Injectable()
export class VmStartTraces {
  constructor(private readonly telemetry: ControllerTelemetry) {}

  /** The scheduler placed these VMs at `now`. */
  placed(vms: readonly VmTimes[], now: Date): void {
    const tracing = this.telemetry.tracing;
    if (!tracing) {
      return;
    }
    for (const vm of vms) {
      const since = startedWaiting(vm);
      if (Number.isFinite(since)) {
        tracing
          .startSpan('vm.schedule', {
            parent: formatTraceparent(vmStartTrace(vm.uid, vm.restart_count)),
            startTime: since,
            attributes: attributesOf(vm),
          })
          .end({ endTime: Math.max(since, now.getTime()) });
      }
    }
  }

  /**
   * A state report changed `before` into `after`: the start is over when it set `started_at` (the VM runs), or when
   * it failed the VM before it ever ran.
   */
  stateReported(
    before: Pick<Vm, 'started_at' | 'status'>,
    after: VmTimes & Pick<Vm, 'started_at' | 'scheduled_at' | 'status' | 'status_message'>,
  ): void {
    const tracing = this.telemetry.tracing;
    const startedAt = timeOf(after.started_at);
    const running = startedAt !== undefined && after.started_at !== before.started_at;
    const failed = after.status === 'failed' && before.status !== 'failed' && startedAt === undefined;
    if (!tracing || (!running && !failed)) {
      return;
    }
    const ids = vmStartTrace(after.uid, after.restart_count);
    const since = startedWaiting(after);
    const end = startedAt ?? Date.now();
    const error = failed ? after.status_message || 'the VM failed' : undefined;
    const outcome = { endTime: Math.max(since, end), ...(error !== undefined ? { error } : {}) };
    const scheduledAt = timeOf(after.scheduled_at);
    if (scheduledAt !== undefined) {
      tracing
        .startSpan('vm.worker-start', {
          parent: formatTraceparent(ids),
          // Placement and report may come from two replicas' clocks: a span never ends before it begins.
          startTime: Math.min(scheduledAt, outcome.endTime),
          attributes: attributesOf(after),
        })
        .end(outcome);
    }
    if (Number.isFinite(since)) {
      tracing.startSpan('vm.start', { ids, startTime: since, attributes: attributesOf(after) }).end(outcome);
    }
  }
}
