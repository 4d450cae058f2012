import { Injectable } from '@nestjs/common';

/**
 * Lets services ask for a scheduling pass (a VM was created, a worker changed) without depending on the scheduler.
 * Requests made while a pass runs are coalesced into one more pass.
 */
@Injectable()
export class SchedulingTrigger {
  private listener: (() => void) | undefined;

  request(): void {
    this.listener?.();
  }

  /** The scheduler registers here; there is one per controller. */
  onRequest(listener: () => void): void {
    this.listener = listener;
  }
}
