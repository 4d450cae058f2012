import type { Socket } from 'node:net';
import type { HostProcess } from '@grove/resources';
import { ManagedHostProcess, type HostProcessContext } from './host-process';

export interface HostProcessSetOptions extends HostProcessContext {
  /** Something the VM's status should show changed: a process ended by itself. */
  onChange: () => void;
}

/**
 * The host processes of one VM run (orchard-2026.md §1.2.3). `start` runs them all and resolves once every one
 * accepts connections; if one cannot start, the others are stopped too and it rejects with
 * `failed to start host process "NAME": …`. `replace` stops them all and starts the new list (a spec change of only
 * `hostProcesses`, as Orchard restarts all of them); a process that ends later is not restarted, it makes the set not
 * ready with a problem to report. Operations run one after another; `close` stops everything.
 */
export class HostProcessSet {
  private processes: ManagedHostProcess[] = [];
  /** Why the set is not ready, when it failed to start or a process ended; undefined while fine. */
  private failure: string | undefined;
  /** Starts and replacements queued or under way: the set is not ready until they are done. */
  private pending = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: HostProcessSetOptions) {}

  /** Starts the processes; rejects with the first failure (in the spec's order) after stopping the others. */
  start(processes: readonly HostProcess[]): Promise<void> {
    this.pending++;
    const run = this.queue.then(() => this.startAll(processes)).finally(() => this.settled());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the running processes and starts these; a failure is kept as the set's problem rather than thrown. */
  replace(processes: readonly HostProcess[]): Promise<void> {
    this.pending++;
    this.queue = this.queue.then(async () => {
      try {
        await this.stopAll();
        await this.startAll(processes).catch(() => undefined);
      } finally {
        this.settled();
      }
    });
    return this.queue;
  }

  /** Stops every process, also those still starting (their start fails); later operations do nothing. */
  close(): Promise<void> {
    this.closed = true;
    const now = Promise.all(this.processes.map((p) => p.stop()));
    this.queue = this.queue.then(() => this.stopAll());
    return Promise.all([now, this.queue]).then(() => undefined);
  }

  /** Every declared process runs and has accepted a connection. */
  get ready(): boolean {
    return !this.closed && this.pending === 0 && this.failure === undefined && this.processes.every((p) => p.ready);
  }

  /** What to say in the VM's status message while the set is not ready, if there is something to say. */
  get problem(): string | undefined {
    return this.failure;
  }

  /**
   * A connection to the named process's socket, waiting while the set (re)starts its processes and while the process
   * starts listening; throws `host process "x" is not running` when it does not run.
   */
  async connect(name: string, signal: AbortSignal): Promise<Socket> {
    if (!this.find(name) && this.pending > 0) {
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
        void this.queue.then(() => resolve());
      });
      signal.throwIfAborted();
    }
    const running = this.find(name);
    if (!running) {
      throw new Error(`host process "${name}" is not running`);
    }
    return running.connect(signal);
  }

  private find(name: string): ManagedHostProcess | undefined {
    return this.processes.find((p) => p.name === name);
  }

  private async startAll(specs: readonly HostProcess[]): Promise<void> {
    if (this.closed) {
      throw new Error('the VM is stopping');
    }
    this.failure = undefined;
    const { log, onChange, ...context } = this.options;
    this.processes = specs.map((spec) => {
      const started = new ManagedHostProcess(spec, { ...context, log });
      started.onExit = (reason) => {
        if (this.processes.includes(started) && this.failure === undefined) {
          this.failure = `host process "${spec.name}" ${reason}`;
          onChange();
        }
      };
      return started;
    });
    // Started side by side: each may take up to the readiness timeout.
    const results = await Promise.allSettled(this.processes.map((p) => p.start()));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (this.closed) {
      // Closed meanwhile (the VM is stopping): whatever started is stopped, and the failure is not the processes'.
      await this.stopAll();
      throw new Error('the VM is stopping');
    }
    if (failed >= 0) {
      const reason = (results[failed] as PromiseRejectedResult).reason as Error;
      await this.stopAll();
      this.failure = `failed to start host process "${specs[failed].name}": ${reason.message}`;
      throw new Error(this.failure);
    }
    if (specs.length > 0) {
      log(`host processes ${specs.map((s) => s.name).join(', ')} are ready`);
    }
  }

  /** A start or replacement is over: whether the set is ready may have changed. */
  private settled(): void {
    this.pending--;
    this.options.onChange();
  }

  private async stopAll(): Promise<void> {
    const processes = this.processes;
    this.processes = [];
    await Promise.all(processes.map((p) => p.stop()));
  }
}
