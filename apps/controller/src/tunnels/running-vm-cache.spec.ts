import { EventEmitter } from 'node:events';
import type { Vm } from '@grove/resources';
import type { ClusterBus } from '../cluster/cluster-bus';
import type { VmChange, VmChangeBus } from '../vms/vm-change-bus';
import { RunningVmCache } from './running-vm-cache';

/** The VM change bus as the cache uses it: per-name subscriptions, and a way to publish a change. */
class FakeChanges {
  private readonly emitter = new EventEmitter();

  subscribe(name: string, listener: (change: VmChange) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  publish(vm: Vm, type: VmChange['type'] = 'MODIFIED'): void {
    this.emitter.emit(vm.name, { type, vm });
  }

  listeners(name: string): number {
    return this.emitter.listenerCount(name);
  }
}

function vm(name: string, fields: Partial<Vm> = {}): Vm {
  return { name, uid: `${name}-uid-1`, status: 'running', worker: 'w1', ...fields } as Vm;
}

/** The "database": VMs by name, and how often each was read; `during` runs while a read is under way. */
class Table {
  readonly rows = new Map<string, Vm>();
  readonly reads: string[] = [];
  during: (() => void) | undefined;

  read = (name: string): Promise<Vm> => {
    this.reads.push(name);
    this.during?.();
    const found = this.rows.get(name);
    return found ? Promise.resolve(found) : Promise.reject(new Error(`VM "${name}" not found`));
  };
}

describe('running VM cache', () => {
  let changes: FakeChanges;
  let bus: { enabled: boolean; listeningSince: number | undefined };
  let cache: RunningVmCache;
  let table: Table;

  beforeEach(() => {
    changes = new FakeChanges();
    bus = { enabled: true, listeningSince: 0 };
    cache = new RunningVmCache(changes as unknown as VmChangeBus, bus as unknown as ClusterBus);
    table = new Table();
    table.rows.set('a', vm('a'));
  });

  it('reads a running VM once, then answers from memory', async () => {
    expect(await cache.find('a', table.read)).toMatchObject({ uid: 'a-uid-1', worker: 'w1' });
    expect(await cache.find('a', table.read)).toMatchObject({ uid: 'a-uid-1' });
    expect(table.reads).toEqual(['a']);
  });

  it('forgets a VM at its first change, and then stops listening to it', async () => {
    await cache.find('a', table.read);
    table.rows.set('a', vm('a', { uid: 'a-uid-2', worker: 'w2' }));
    changes.publish(table.rows.get('a')!, 'ADDED');
    expect(changes.listeners('a')).toBe(0);
    expect(await cache.find('a', table.read)).toMatchObject({ uid: 'a-uid-2', worker: 'w2' });
    expect(table.reads).toEqual(['a', 'a']);
  });

  it('does not keep what a read returned while the VM changed', async () => {
    table.during = () => changes.publish(vm('a', { status: 'stopping' as Vm['status'] }));
    await cache.find('a', table.read);
    table.during = undefined;
    await cache.find('a', table.read);
    expect(table.reads).toEqual(['a', 'a']);
    expect(cache.holds('a')).toBe(true);
  });

  it('keeps only VMs that run on a worker, and nothing that failed to read', async () => {
    table.rows.set('p', vm('p', { status: 'pending', worker: '' }));
    await cache.find('p', table.read);
    await expect(cache.find('nope', table.read)).rejects.toThrow('VM "nope" not found');
    expect(cache.holds('p')).toBe(false);
    expect(changes.listeners('p') + changes.listeners('nope')).toBe(0);
  });

  it('trusts memory only while this replica hears the others without a break since the read', async () => {
    bus.listeningSince = undefined;
    await cache.find('a', table.read);
    expect(cache.holds('a')).toBe(false);
    bus.listeningSince = 0;
    await cache.find('a', table.read);
    expect(cache.holds('a')).toBe(true);
    // Heard again after a break: a change during it may have been missed.
    bus.listeningSince = Date.now() + 1;
    expect(cache.holds('a')).toBe(false);
    await cache.find('a', table.read);
    expect(table.reads).toEqual(['a', 'a', 'a']);
  });

  it('reads again once the entry is older than its time to live', async () => {
    cache.ttlMs = 0;
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    await cache.find('a', table.read);
    clock.mockReturnValue(now + 1);
    await cache.find('a', table.read);
    expect(table.reads).toEqual(['a', 'a']);
    clock.mockRestore();
  });
});
