import { Injectable } from '@nestjs/common';
import { ZERO_TIME, type Vm } from '@grove/resources';
import { Histogram } from 'prom-client';
import { MetricsRegistry } from './metrics-registry';

/**
 * Scheduling metrics (issue 14): how long passes take, how long VMs wait to be placed and how long a placed VM takes to
 * run. Passes are run by the scheduler leader only, so the first two come from that replica; VM starts are counted by
 * the replica that received the worker's state report.
 */
@Injectable()
export class SchedulingMetrics {
  private readonly delay: Histogram;
  private readonly pass: Histogram;
  private readonly start: Histogram<'worker'>;

  constructor(metrics: MetricsRegistry) {
    const registers = [metrics.registry];
    this.delay = new Histogram({
      name: 'grove_scheduling_delay_seconds',
      help: 'Time from a VM created (or restarted by its restart policy) to its placement on a worker.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.pass = new Histogram({
      name: 'grove_scheduler_pass_seconds',
      help: 'Duration of scheduling passes (health checks and placement) on the scheduler leader.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.start = new Histogram({
      name: 'grove_vm_start_seconds',
      help: 'Time from a VM placed on a worker to the worker reporting it running (image pull, clone and boot), by worker.',
      labelNames: ['worker'],
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
  }

  /** A scheduling pass took `seconds`. */
  passFinished(seconds: number): void {
    this.pass.observe(seconds);
  }

  /** The scheduler placed these VMs at `now`: each waited since its creation, or since its restart. */
  placed(vms: readonly Pick<Vm, 'createdAt' | 'restarted_at'>[], now: Date): void {
    for (const vm of vms) {
      const restarted = vm.restarted_at && vm.restarted_at !== ZERO_TIME ? Date.parse(vm.restarted_at) : Number.NaN;
      const since = Math.max(Date.parse(vm.createdAt), Number.isNaN(restarted) ? -Infinity : restarted);
      if (Number.isFinite(since)) {
        this.delay.observe(Math.max(0, now.getTime() - since) / 1000);
      }
    }
  }

  /**
   * A state report changed `before` into `after`: when it set `started_at` (the VM runs for the first time since it was
   * placed), the time since its placement counts.
   */
  stateReported(before: Pick<Vm, 'started_at'>, after: Pick<Vm, 'started_at' | 'scheduled_at' | 'worker'>): void {
    if (after.started_at === before.started_at || after.started_at === ZERO_TIME || !after.worker) {
      return;
    }
    const scheduled = Date.parse(after.scheduled_at);
    const started = Date.parse(after.started_at);
    if (after.scheduled_at !== ZERO_TIME && Number.isFinite(scheduled) && Number.isFinite(started)) {
      // Placement and report may come from two replicas' clocks: a start never takes negative time.
      this.start.observe({ worker: after.worker }, Math.max(0, started - scheduled) / 1000);
    }
  }
}
