import { Injectable } from '@nestjs/common';
import type { Vm } from '@grove/resources';
import { ClusterBus, readStillTrusted } from '../cluster/cluster-bus';
import { VmChangeBus } from '../vms/vm-change-bus';

/** How long a running VM is kept at most; changes are forgotten at once, this bounds what a lost notification costs. */
export const RUNNING_VM_CACHE_TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  vm: Vm;
  readAt: number;
  unsubscribe: () => void;
}

/**
 * The running VMs that sessions reach (port-forward, SSH gateway, exec), kept in memory per replica (issue 17): every
 * session read its VM from Postgres first, about a millisecond of a session's setup under load. Only running VMs
 * placed on a worker are kept (a pending one is read again until it runs). A VM is forgotten at its first change: this
 * replica's changes and the other replicas' both arrive on the VM change bus, which an entry listens to while it is
 * kept. As with the service-account cache, a VM is trusted from memory only while those changes can arrive: with
 * several replicas, only if this one has been listening to the others without a break since it read the VM.
 */
@Injectable()
export class RunningVmCache {
  private readonly entries = new Map<string, Entry>();

  /** `RUNNING_VM_CACHE_TTL_MS`; tests shorten it. */
  ttlMs = RUNNING_VM_CACHE_TTL_MS;

  constructor(
    private readonly changes: VmChangeBus,
    private readonly bus: ClusterBus,
  ) {}

  /** The VM named `name`: from memory when it can be trusted, else from `read` (and kept when it runs). */
  async find(name: string, read: (name: string) => Promise<Vm>): Promise<Vm> {
    const now = Date.now();
    const entry = this.entries.get(name);
    if (entry && this.trusted(entry.readAt, now)) {
      return entry.vm;
    }
    this.forget(name);
    // Listening before the read: a change committed while it is under way makes what it returns unfit to keep.
    let changed = false;
    const unsubscribe = this.changes.subscribe(name, () => {
      changed = true;
      this.forget(name);
    });
    let vm: Vm;
    try {
      vm = await read(name);
    } catch (err) {
      unsubscribe();
      throw err;
    }
    if (!changed && vm.status === 'running' && vm.worker && this.trusted(now, Date.now()) && !this.entries.has(name)) {
      if (this.entries.size >= MAX_ENTRIES) {
        this.clear();
      }
      this.entries.set(name, { vm, readAt: now, unsubscribe });
    } else {
      unsubscribe();
    }
    return vm;
  }

  /** Whether a session to `name` would find its VM in memory now (diagnostics, tests). */
  holds(name: string): boolean {
    const entry = this.entries.get(name);
    return entry !== undefined && this.trusted(entry.readAt, Date.now());
  }

  /** Forgets the VM named `name`. */
  forget(name: string): void {
    const entry = this.entries.get(name);
    if (entry) {
      this.entries.delete(name);
      entry.unsubscribe();
    }
  }

  private clear(): void {
    for (const name of [...this.entries.keys()]) {
      this.forget(name);
    }
  }

  /** Whether what was read at `readAt` can still be used at `now`. */
  private trusted(readAt: number, now: number): boolean {
    return readStillTrusted(this.bus, readAt, now, this.ttlMs);
  }
}
