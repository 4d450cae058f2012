import { DomainError, DomainErrorCode } from '../common/domain-error';
import { sameCommandSpec, type ExecCommandSpec } from './exec-query';
import type { ExecSession } from './exec-session';

interface Entry {
  spec: ExecCommandSpec;
  /** Settles once the command started (or could not); shared by every concurrent creator. */
  session: Promise<ExecSession>;
  /** The session once created. */
  created?: ExecSession;
}

/**
 * The reconnectable exec sessions of this controller, keyed by (VM name, session id) as Orchard keys them; in memory
 * only (lost when the controller restarts, as in Orchard).
 */
export class ExecSessionRegistry {
  private readonly entries = new Map<string, Entry>();

  private static key(vmName: string, id: string): string {
    return JSON.stringify([vmName, id]);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The session `id` of the VM. With a `spec` it is created by `create` when it does not exist (concurrent creators
   * share one creation) and must match the existing one otherwise (409); without a spec it must exist (404).
   */
  async getOrCreate(
    vmName: string,
    id: string,
    spec: ExecCommandSpec | undefined,
    create: () => Promise<ExecSession>,
  ): Promise<ExecSession> {
    const key = ExecSessionRegistry.key(vmName, id);
    const existing = this.entries.get(key);
    if (existing) {
      if (spec && !sameCommandSpec(spec, existing.spec)) {
        throw new DomainError(
          DomainErrorCode.Conflict,
          `exec session ${JSON.stringify(id)} is already running with different options`,
        );
      }
      return existing.session;
    }
    if (!spec) {
      throw new DomainError(DomainErrorCode.NotFound, `exec session ${JSON.stringify(id)} does not exist`);
    }
    const entry: Entry = { spec, session: create() };
    this.entries.set(key, entry);
    void entry.session.then(
      (session) => (entry.created = session),
      () => {
        if (this.entries.get(key) === entry) {
          this.entries.delete(key);
        }
      },
    );
    return entry.session;
  }

  /** Whether the session (VM name, id) exists here, or is being started here. */
  has(vmName: string, id: string): boolean {
    return this.entries.has(ExecSessionRegistry.key(vmName, id));
  }

  /** Forgets a closed session (its entry only: a newer session with the same id stays). */
  remove(vmName: string, id: string, session: ExecSession): void {
    const key = ExecSessionRegistry.key(vmName, id);
    if (this.entries.get(key)?.created === session) {
      this.entries.delete(key);
    }
  }
}
