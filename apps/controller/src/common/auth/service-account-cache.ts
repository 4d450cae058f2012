import { Injectable } from '@nestjs/common';
import { ClusterBus, readStillTrusted, type ClusterMessage } from '../../cluster/cluster-bus';
import type { ServiceAccountEntity } from '../../service-accounts/service-account.entity';

/**
 * What Postgres tells every replica when a row of `service_accounts` is written, whoever wrote it (a trigger, migration
 * NotifyServiceAccountChanges): `{from: '(postgres)', kind, name}`.
 */
export const SERVICE_ACCOUNT_CHANGED = 'service-account-changed';
/** How long an account is kept at most; changes are forgotten at once, this bounds what a lost notification costs. */
export const SERVICE_ACCOUNT_CACHE_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * The service accounts that requests authenticate as, kept in memory per replica (issue 13): every API request, every
 * heartbeat of every worker, looked its account up in the database, one statement of the two a heartbeat made. A
 * change is forgotten at once: on this replica by the service that made it (before it answers), on the others when
 * Postgres notifies them. An account is trusted from memory only while those notifications can arrive: with several
 * replicas, only if this one has been listening without a break since it read the account (a change while it was not
 * listening would have gone unheard); with the embedded database there is one controller and every change is its own.
 * Unknown names are not kept (a wrong login costs a lookup, as before, and the login throttle bounds those).
 */
@Injectable()
export class ServiceAccountCache {
  private readonly entries = new Map<string, { account: ServiceAccountEntity; readAt: number }>();
  /** Counts changes: a read that overlapped one may hold what it changed and is not kept. */
  private changes = 0;

  /** `SERVICE_ACCOUNT_CACHE_TTL_MS`; tests shorten it. */
  ttlMs = SERVICE_ACCOUNT_CACHE_TTL_MS;

  constructor(private readonly bus: ClusterBus) {
    bus.on(SERVICE_ACCOUNT_CHANGED, (message: ClusterMessage) =>
      this.forget(typeof message['name'] === 'string' ? message['name'] : undefined),
    );
  }

  /** The account named `name`, from memory when it can be trusted, else from `read` (and kept). */
  async find(
    name: string,
    read: (name: string) => Promise<ServiceAccountEntity | null>,
  ): Promise<ServiceAccountEntity | null> {
    const now = Date.now();
    const entry = this.entries.get(name);
    if (entry && this.trusted(entry.readAt, now)) {
      return entry.account;
    }
    const changes = this.changes;
    const account = await read(name);
    if (account && changes === this.changes && this.trusted(now, Date.now())) {
      if (this.entries.size >= MAX_ENTRIES) {
        this.entries.clear();
      }
      this.entries.set(name, { account, readAt: now });
    } else if (!account) {
      this.entries.delete(name);
    }
    return account;
  }

  /** Whether a request as `name` would be authenticated from memory now, without a database read (diagnostics, tests). */
  holds(name: string): boolean {
    const entry = this.entries.get(name);
    return entry !== undefined && this.trusted(entry.readAt, Date.now());
  }

  /** Forgets the account named `name` (every account without a name): it changed or is gone. */
  forget(name?: string): void {
    this.changes++;
    if (name === undefined) {
      this.entries.clear();
    } else {
      this.entries.delete(name);
    }
  }

  /** Whether what was read at `readAt` can still be used at `now`. */
  private trusted(readAt: number, now: number): boolean {
    return readStillTrusted(this.bus, readAt, now, this.ttlMs);
  }
}
