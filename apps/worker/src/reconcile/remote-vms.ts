import type { Vm } from '@grove/resources';
import type { ControllerPort } from './reconciler';

/**
 * The controller's VMs for this worker as the reconciler last read them, with the state reports since applied as the
 * controller answered them (issue 13: a VM's start cost two reads of the list, one to create it and one to report it
 * running). The list is `stale`, and read again by the next pass, once anything but this worker's own VMs asked for a
 * pass (SyncVms, the poll, a new session) or a report got no answer.
 */
export class RemoteVms {
  private vms: Vm[] | undefined;
  private stale = true;

  constructor(
    private readonly controller: Pick<ControllerPort, 'listVms'>,
    private readonly workerName: string,
  ) {}

  /** The next pass reads the list afresh. */
  invalidate(): void {
    this.stale = true;
  }

  /** The list for a pass: read afresh when stale, else as the last pass left it (a copy either way). */
  async forPass(): Promise<Vm[]> {
    if (!this.stale && this.vms) {
      return [...this.vms];
    }
    // Cleared before the read: a request arriving while it runs is for a newer list, and marks it stale again.
    this.stale = false;
    try {
      this.vms = (await this.controller.listVms(this.workerName)).filter((vm) => vm.worker === this.workerName);
    } catch (err) {
      this.stale = true;
      throw err;
    }
    return [...this.vms];
  }

  /** A state report about `reported` was answered with `stored` (nothing: dropped or failed). */
  reported(reported: Vm, stored: Vm | void): void {
    const at = this.vms?.findIndex((vm) => vm.name === reported.name && vm.uid === reported.uid) ?? -1;
    if (stored && stored.uid === reported.uid && stored.worker === this.workerName && at >= 0) {
      this.vms![at] = stored;
    } else {
      this.stale = true;
    }
  }
}
