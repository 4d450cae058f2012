import { Injectable } from '@nestjs/common';
import { ClusterBus } from '../cluster/cluster-bus';

const SCHEDULE = 'schedule';

/**
 * Lets services ask for a scheduling pass (a VM was created, a worker changed) without depending on the scheduler.
 * Requests made while a pass runs are coalesced into one more pass. With several replicas, only one schedules (the
 * holder of the advisory lock): a replica that does not schedule forwards the request to the others.
 */
@Injectable()
export class SchedulingTrigger {
  private listener: (() => void) | undefined;
  private leading = (): boolean => true;
  private forwarded = false;

  constructor(private readonly bus: ClusterBus) {
    bus.on(SCHEDULE, () => this.listener?.());
  }

  request(): void {
    this.listener?.();
    if (this.bus.enabled && !this.leading() && !this.forwarded) {
      // One notification per event-loop turn is enough: the leader coalesces requests into passes anyway.
      this.forwarded = true;
      setImmediate(() => {
        this.forwarded = false;
        this.bus.publish(SCHEDULE, {});
      });
    }
  }

  /** The scheduler registers here; there is one per controller. `leading` tells whether it holds the lock now. */
  onRequest(listener: () => void, leading?: () => boolean): void {
    this.listener = listener;
    if (leading) {
      this.leading = leading;
    }
  }
}
