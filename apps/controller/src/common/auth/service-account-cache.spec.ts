import type { ClusterBus, ClusterMessage } from '../../cluster/cluster-bus';
import type { ServiceAccountEntity } from '../../service-accounts/service-account.entity';
import { SERVICE_ACCOUNT_CHANGED, ServiceAccountCache } from './service-account-cache';

/** The part of the cluster bus the cache uses: whether replicas exist, since when this one hears them, messages. */
class FakeBus {
  enabled = true;
  listeningSince: number | undefined = 0;
  private readonly handlers: ((message: ClusterMessage) => void)[] = [];

  on(kind: string, handler: (message: ClusterMessage) => void): void {
    expect(kind).toBe(SERVICE_ACCOUNT_CHANGED);
    this.handlers.push(handler);
  }

  changed(name?: string): void {
    for (const handler of this.handlers) {
      handler({ from: '(postgres)', kind: SERVICE_ACCOUNT_CHANGED, ...(name === undefined ? {} : { name }) });
    }
  }
}

function account(name: string, roles: string[]): ServiceAccountEntity {
  return { name, roles, tokenHash: `hash-of-${name}`, createdAt: new Date(0) };
}

/** The "database": accounts by name, and how often each was read. */
class Table {
  readonly rows = new Map<string, ServiceAccountEntity>();
  readonly reads: string[] = [];

  read = (name: string): Promise<ServiceAccountEntity | null> => {
    this.reads.push(name);
    return Promise.resolve(this.rows.get(name) ?? null);
  };
}

describe('service account cache', () => {
  let bus: FakeBus;
  let cache: ServiceAccountCache;
  let table: Table;

  beforeEach(() => {
    bus = new FakeBus();
    cache = new ServiceAccountCache(bus as unknown as ClusterBus);
    table = new Table();
    table.rows.set('ci', account('ci', ['compute:read']));
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('reads an account once and answers from memory until it changes', async () => {
    expect((await cache.find('ci', table.read))?.roles).toEqual(['compute:read']);
    expect((await cache.find('ci', table.read))?.roles).toEqual(['compute:read']);
    expect(table.reads).toEqual(['ci']);

    // Changed by another replica (or at the SQL prompt): Postgres says so, the next login reads it again.
    table.rows.set('ci', account('ci', ['compute:write']));
    bus.changed('ci');
    expect((await cache.find('ci', table.read))?.roles).toEqual(['compute:write']);
    // Deleted on this replica: the service forgets it before it answers.
    table.rows.delete('ci');
    cache.forget('ci');
    expect(await cache.find('ci', table.read)).toBeNull();
    expect(table.reads).toEqual(['ci', 'ci', 'ci']);
  });

  it('keeps no unknown name, and forgets every account when told without a name', async () => {
    expect(await cache.find('nobody', table.read)).toBeNull();
    expect(await cache.find('nobody', table.read)).toBeNull();
    await cache.find('ci', table.read);
    bus.changed();
    await cache.find('ci', table.read);
    expect(table.reads).toEqual(['nobody', 'nobody', 'ci', 'ci']);
  });

  it('does not keep what a read returned while the account changed', async () => {
    let finish: (() => void) | undefined;
    const slowRead = async (name: string) => {
      const stale = await table.read(name);
      await new Promise<void>((resolve) => (finish = resolve));
      return stale;
    };
    const pending = cache.find('ci', slowRead);
    await Promise.resolve();
    table.rows.set('ci', account('ci', []));
    bus.changed('ci');
    finish?.();
    expect((await pending)?.roles).toEqual(['compute:read']);
    expect((await cache.find('ci', table.read))?.roles).toEqual([]);
  });

  it('trusts memory only while this replica hears the others, and not what it read before it last began to', async () => {
    bus.listeningSince = undefined;
    await cache.find('ci', table.read);
    await cache.find('ci', table.read);
    expect(table.reads).toHaveLength(2);

    bus.listeningSince = Date.now();
    await cache.find('ci', table.read);
    await cache.find('ci', table.read);
    expect(table.reads).toHaveLength(3);
    // The notification connection broke and came back: a change in between went unheard.
    bus.listeningSince = Date.now() + 1;
    await cache.find('ci', table.read);
    expect(table.reads).toHaveLength(4);
  });

  it('trusts memory alone with the embedded database, for a limited time', async () => {
    bus.enabled = false;
    bus.listeningSince = undefined;
    await cache.find('ci', table.read);
    await cache.find('ci', table.read);
    expect(table.reads).toHaveLength(1);
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + cache.ttlMs + 1);
    await cache.find('ci', table.read);
    expect(table.reads).toHaveLength(2);
  });
});
