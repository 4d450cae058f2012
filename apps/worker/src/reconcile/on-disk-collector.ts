import type { Vm } from '@grove/resources';
import type { OnDiskVm, VmRuntime } from '../runtime/vm-runtime';
import { planOnDiskGc } from './on-disk-name';

/** The reconciler's on-disk garbage collection (see `collect`), with the deletions it runs in the background. */
export class OnDiskCollector {
  /**
   * On-disk clones that garbage collection is stopping or deleting in the background, with whether that worked. No
   * pass plans them again meanwhile, and `create` of the same name waits for them: `tart clone` refuses a name that
   * exists.
   */
  private readonly collecting = new Map<string, Promise<boolean>>();
  /** `grove-` names that are not Grove on-disk names, warned about once rather than on every pass. */
  private readonly warnedAbout = new Set<string>();

  constructor(
    private readonly runtime: VmRuntime,
    private readonly log: (line: string) => void,
  ) {}

  /** The background stop or deletion of `name` in progress (resolves to whether it worked), if any. */
  pending(name: string): Promise<boolean> | undefined {
    return this.collecting.get(name);
  }

  /** Resolves once every stop and deletion in progress has ended. */
  async settled(): Promise<void> {
    await Promise.all(this.collecting.values());
  }

  /**
   * On-disk clean-up (orchard.md §5.5), in every pass rather than only at session start (issue 11, "continuous garbage
   * collection"), so that a clone whose VM was deleted while this worker did not manage it (it restarted, or a deletion
   * failed) goes within one poll interval: deletes Grove clones the controller does not know (or still has pending,
   * so that `create` can clone afresh) and stops running clones the controller has moved past pending, whose process
   * this worker lost. Foreign and `orchard-*` VMs are never touched (planOnDiskGc). It reuses the list this pass just
   * read, and the races are closed by construction:
   * - a clone being made now belongs to a VM in `managed()` (the reconciler adds it before `clone` starts), and names
   *   managed before or after the disk listing are both spared;
   * - a VM created on the controller after the list was read can only get a clone from a later pass, and passes never
   *   overlap, so its clone is not on disk yet;
   * - the stopping and deleting run in the background (a `tart stop` may take 30 s) under `collecting`, which later
   *   passes skip and `create` waits for.
   */
  async collect(remote: readonly Vm[], managed: () => Iterable<string>): Promise<void> {
    const managedBefore = new Set(managed());
    let onDisk: OnDiskVm[];
    try {
      onDisk = await this.runtime.list();
    } catch (err) {
      this.log(`on-disk garbage collection failed: cannot list VMs: ${(err as Error).message}`);
      return;
    }
    const spared = new Set([...managedBefore, ...managed(), ...this.collecting.keys()]);
    const plan = planOnDiskGc(onDisk, remote, spared);
    for (const name of plan.ignored.filter((name) => !this.warnedAbout.has(name))) {
      this.warnedAbout.add(name);
      this.log(`leaving ${name} alone: it starts with "grove-" but is not a Grove on-disk name`);
    }
    for (const { name, stopFirst } of plan.delete) {
      this.log(`garbage-collecting ${name}: the controller does not need it`);
      this.collectInBackground(name, async () => {
        if (stopFirst) {
          await this.stopQuietly(name);
        }
        await this.runtime.delete(name);
      });
    }
    for (const name of plan.stop) {
      this.log(`stopping ${name}: this worker lost its process`);
      this.collectInBackground(name, () => this.stopQuietly(name));
    }
  }

  private collectInBackground(name: string, run: () => Promise<void>): void {
    const done = run().then(
      () => true,
      (err: Error) => {
        this.log(`garbage collection of ${name} failed (the next pass retries): ${err.message}`);
        return false;
      },
    );
    this.collecting.set(name, done);
    void done.then(() => this.collecting.delete(name));
  }

  /** A failed stop is logged and not fatal: deleting a VM that still runs is Tart's business to refuse. */
  private async stopQuietly(name: string): Promise<void> {
    await this.runtime.stop(name, 30).catch((err: Error) => this.log(err.message));
  }
}
