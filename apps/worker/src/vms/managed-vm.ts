import { EventEmitter } from 'node:events';
import type { Vm } from '@grove/resources';
import type { LocalVmView } from '../reconcile/transition-table';
import { RuntimeError, type VmRunOptions, type VmRuntime } from '../runtime/vm-runtime';

/** Orchard's status messages (orchard.md §2.1, §5.3): clients and people match on them. */
export const STATUS = {
  pulling: 'pulling VM image...',
  cloning: 'cloning VM...',
  configuring: 'configuring VM...',
  started: 'VM started',
  startedWithScript: 'VM started, running startup script...',
  starting: 'Starting VM',
  stopping: 'Stopping VM',
  suspending: 'Suspending VM',
  // Grove's own: Orchard leaves "Stopping VM" standing on a VM that has long stopped.
  stopped: 'VM stopped',
  suspended: 'VM suspended',
} as const;

/** Seconds `tart stop` gives the guest to shut down before it is forced (Orchard's `--timeout 5`). */
export const STOP_TIMEOUT_SECONDS = 5;

/**
 * The steps of a VM's life whose durations the worker measures (`grove_worker_vm_step_seconds`, issue 14): `boot` is
 * from `run` to the first SSH login of the startup script and `startup-script` the script itself, so both exist only
 * for VMs that have one (the worker does not probe VMs for anything else).
 */
export const VM_STEPS = ['pull', 'clone', 'configure', 'boot', 'startup-script', 'stop', 'delete'] as const;
export type VmStep = (typeof VM_STEPS)[number];

/** What a VM on this worker is doing, for `grove_worker_vms{state}`. */
export const MANAGED_VM_STATES = ['starting', 'running', 'stopping', 'stopped', 'suspended', 'failed'] as const;
export type ManagedVmState = (typeof MANAGED_VM_STATES)[number];

/** Runs a VM's startup script once its run has begun; resolves when the script ended well, rejects otherwise. */
export type StartupScriptRunner = (vm: ManagedVm, signal: AbortSignal) => Promise<void>;

export interface ManagedVmOptions {
  runtime: VmRuntime;
  /** Runs `startup_script`; absent in tests that have none. */
  runStartupScript?: StartupScriptRunner;
  log: (line: string) => void;
  /**
   * Runs before each `run` (the VM's host processes, orchard-2026.md §1.2.3, start before `tart run`); a rejection
   * fails the VM with its message. The signal fires when the VM is stopped or deleted meanwhile.
   */
  beforeRun?: (vm: ManagedVm, signal: AbortSignal) => Promise<void>;
  /** Runs after each `run` that `beforeRun` let start has ended, and after a `beforeRun` that was cancelled. */
  afterRun?: (vm: ManagedVm) => Promise<void>;
  /**
   * Told how long each step of which VM took that completed (pull, clone, configure, stop, delete): the worker's
   * metrics and traces.
   */
  onStep?: (step: VmStep, seconds: number, vm: Vm) => void;
}

/** Whether a stop or a suspend is under way; both end `tart run`, which must not then count as a crash. */
type PowerChange = 'stopping' | 'suspending' | undefined;

/**
 * One VM incarnation on this worker: drives the runtime through tart.md §3.3 (pull, clone, fqn, configure, run) in
 * the background and keeps what the reconciler needs to decide and report (status message, error, whether `run` is
 * up). Emits `change` whenever something the controller should hear about changed, so that the worker reports at once
 * instead of on its next poll.
 */
export class ManagedVm extends EventEmitter {
  readonly onDiskName: string;
  /** The spec this incarnation was created with or last adopted (its `generation` is the applied one). */
  private spec: Vm;
  private message: string;
  private fqn = '';
  private error: string | undefined;
  /** `run` was launched at least once: the VM is `running` for the controller from then on. */
  private started = false;
  /** `run` is up right now (Orchard's `running` condition). */
  private up = false;
  private powerChange: PowerChange;
  /** `beforeRun` is under way: `run` is about to be launched, so a spec change must wait as for a power change. */
  private launching = false;
  /** The clone exists on disk (so deleting must remove it). */
  private cloned = false;
  private abort = new AbortController();
  /** The background task of the current boot or restart; awaited by `stop` and `delete`. */
  private task: Promise<void> = Promise.resolve();
  private deleting: Promise<void> | undefined;

  constructor(
    vm: Vm,
    private readonly options: ManagedVmOptions,
  ) {
    super();
    this.spec = vm;
    this.onDiskName = vm.localName;
    this.message = '';
  }

  get name(): string {
    return this.spec.name;
  }

  get vm(): Vm {
    return this.spec;
  }

  get statusMessage(): string {
    return this.message;
  }

  get imageFqn(): string {
    return this.fqn;
  }

  /** Whether `run` is up right now (the VM's `running` condition). */
  get isUp(): boolean {
    return this.up;
  }

  /** What the VM is doing now, for the worker's metrics. */
  get state(): ManagedVmState {
    if (this.error !== undefined) {
      return 'failed';
    }
    if (this.deleting !== undefined || this.powerChange !== undefined) {
      return 'stopping';
    }
    if (this.up) {
      return 'running';
    }
    if (!this.started || this.launching) {
      return 'starting';
    }
    return this.message === STATUS.suspended ? 'suspended' : 'stopped';
  }

  /** What the transition table needs (orchard.md §5.2). */
  view(): LocalVmView {
    const common = {
      appliedGeneration: this.spec.generation,
      suspendable: this.spec.suspendable,
      running: this.up,
      powerChangeInProgress: this.powerChange !== undefined || this.launching,
    };
    if (this.error !== undefined) {
      return { status: 'failed', error: this.error, ...common };
    }
    return { status: this.started ? 'running' : 'pending', ...common };
  }

  /** Starts the whole sequence in the background: pull (if `Always`), clone, fqn, configure, run. */
  create(): void {
    this.task = this.boot(this.abort.signal);
  }

  /** Runs the VM again after a stop or suspend with the new spec's run flags, without cloning again. */
  startWithNewSpec(vm: Vm): void {
    this.adoptSpec(vm);
    this.abort = new AbortController();
    this.setMessage(STATUS.starting);
    this.task = this.launch(this.abort.signal);
  }

  /** Takes the new spec as applied without starting anything (the VM is to stay stopped or suspended). */
  adoptSpec(vm: Vm): void {
    this.spec = vm;
    this.emitChange();
  }

  /**
   * Shuts the VM down (`tart stop`, whose failure is only logged), then cancels whatever is still running (a pull,
   * clone or `run` is killed) and waits for the background task to end.
   */
  async stop(): Promise<void> {
    // Captured first: once this run ends the reconciler may start a new one, which this stop must leave alone.
    const { abort, task } = this;
    let stopping: number | undefined;
    if (this.up && this.powerChange === undefined) {
      stopping = performance.now();
      this.powerChange = 'stopping';
      this.setMessage(STATUS.stopping);
      try {
        await this.options.runtime.stop(this.onDiskName, STOP_TIMEOUT_SECONDS);
      } catch (err) {
        this.options.log(`stopping ${this.onDiskName} failed: ${(err as Error).message}`);
      }
    }
    abort.abort();
    await task;
    if (stopping !== undefined) {
      this.observe('stop', stopping);
    }
  }

  /** Saves the VM's memory and ends its run (`tart suspend`); a failure fails the VM. */
  async suspend(): Promise<void> {
    if (!this.up || this.powerChange !== undefined) {
      return;
    }
    const { abort, task } = this;
    this.powerChange = 'suspending';
    this.setMessage(STATUS.suspending);
    try {
      await this.options.runtime.suspend(this.onDiskName);
    } catch (err) {
      this.fail(`failed to suspend the VM: ${(err as Error).message}`);
      abort.abort();
    }
    await task;
  }

  /** Stops the VM and removes it from disk; calling it again while it runs returns the same promise. */
  delete(): Promise<void> {
    this.deleting ??= (async () => {
      await this.stop();
      if (this.cloned) {
        await this.timed('delete', () => this.options.runtime.delete(this.onDiskName));
      }
    })();
    return this.deleting;
  }

  private async boot(signal: AbortSignal): Promise<void> {
    const { runtime } = this.options;
    const { image } = this.spec;
    try {
      if (this.spec.imagePullPolicy === 'Always') {
        this.setMessage(STATUS.pulling);
        await step('failed to pull the VM', () => this.timed('pull', () => runtime.pull(image, signal)));
      }
      this.setMessage(STATUS.cloning);
      await step('failed to clone the VM', () =>
        this.timed('clone', () => runtime.clone(image, this.onDiskName, signal)),
      );
      this.cloned = true;
      this.fqn = (await runtime.fqn(image, signal)) ?? '';
      // A suspended VM resumes with the configuration it was saved with (tart.md §3.3 step 4).
      if (!(await runtime.isSuspended(this.onDiskName, signal))) {
        this.setMessage(STATUS.configuring);
        await step('failed to configure the VM', () =>
          this.timed('configure', () =>
            runtime.configure(
              this.onDiskName,
              {
                cpu: this.spec.assignedCPU || this.spec.cpu,
                memory: this.spec.assignedMemory || this.spec.memory,
                diskSize: this.spec.diskSize,
                randomSerial: this.spec.randomSerial,
              },
              signal,
            ),
          ),
        );
      }
    } catch (err) {
      if (!signal.aborted) {
        this.fail((err as Error).message);
      }
      return;
    }
    if (!signal.aborted) {
      await this.launch(signal);
    }
  }

  /**
   * Step 10: runs `beforeRun`, marks the VM started, runs the startup script alongside, waits for `run` to end, then
   * runs `afterRun`.
   */
  private async launch(signal: AbortSignal): Promise<void> {
    if (this.options.beforeRun) {
      this.launching = true;
      try {
        await this.options.beforeRun(this, signal);
      } catch (err) {
        if (!signal.aborted) {
          this.fail((err as Error).message);
        }
      } finally {
        this.launching = false;
      }
      if (signal.aborted || this.error !== undefined) {
        await this.runAfterRun();
        this.emitChange();
        return;
      }
    }
    const script = this.spec.startup_script?.script_content ? this.options.runStartupScript : undefined;
    this.started = true;
    this.up = true;
    this.powerChange = undefined;
    this.setMessage(script ? STATUS.startedWithScript : STATUS.started);
    const scriptAbort = new AbortController();
    const onAbort = () => scriptAbort.abort();
    signal.addEventListener('abort', onAbort);
    if (script) {
      script(this, scriptAbort.signal).then(
        () => {
          if (this.up && this.message === STATUS.startedWithScript) {
            this.setMessage(STATUS.started);
          }
        },
        (err: Error) => {
          if (!scriptAbort.signal.aborted && this.error === undefined) {
            this.fail(`VM failed: failed to run startup script: ${err.message}`);
            this.abort.abort();
          }
        },
      );
    }
    let exit;
    try {
      exit = await this.options.runtime.run(this.onDiskName, runOptions(this.spec), signal);
    } catch (err) {
      exit = { code: 1, error: (err as Error).message };
    } finally {
      signal.removeEventListener('abort', onAbort);
      scriptAbort.abort();
    }
    // Before the VM counts as down, so that no new run (with its own host processes) starts while these still stop.
    await this.runAfterRun();
    this.up = false;
    const change = this.powerChange;
    this.powerChange = undefined;
    if (change === undefined && !signal.aborted) {
      this.fail(
        exit.code === 0 ? 'VM failed: VM exited unexpectedly' : `VM failed: ${exit.error ?? `exit code ${exit.code}`}`,
      );
      return;
    }
    if (change !== undefined) {
      this.setMessage(change === 'stopping' ? STATUS.stopped : STATUS.suspended);
    }
    this.emitChange();
  }

  private async runAfterRun(): Promise<void> {
    try {
      await this.options.afterRun?.(this);
    } catch (err) {
      this.options.log(`${this.onDiskName}: ${(err as Error).message}`);
    }
  }

  /** Runs a runtime step and, when it completed, reports how long it took. */
  private async timed(what: VmStep, run: () => Promise<void>): Promise<void> {
    const started = performance.now();
    await run();
    this.observe(what, started);
  }

  private observe(what: VmStep, started: number): void {
    this.options.onStep?.(what, (performance.now() - started) / 1000, this.spec);
  }

  private fail(message: string): void {
    if (this.error === undefined) {
      this.error = message;
      this.message = message;
      this.options.log(`${this.onDiskName}: ${message}`);
      this.emitChange();
    }
  }

  private setMessage(message: string): void {
    if (this.error === undefined && this.message !== message) {
      this.message = message;
      this.emitChange();
    }
  }

  private emitChange(): void {
    this.emit('change');
  }
}

/** Runs one step, prefixing a runtime failure with what was being done (Orchard's `failed to clone the VM: …`). */
async function step(what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof RuntimeError) {
      throw new RuntimeError(`${what}: ${err.message}`, err.exitCode);
    }
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** The run flags of a spec, in the runtime's terms. */
export function runOptions(vm: Vm): VmRunOptions {
  return {
    netSoftnet: vm.netSoftnet || vm['net-softnet'],
    netSoftnetAllow: vm.netSoftnetAllow,
    netSoftnetBlock: vm.netSoftnetBlock,
    // VMs stored before issue 12 come without the fields below: nothing exposed, audio and clipboard off (their
    // default in Orchard and in the controller's answers), Tart's own USB devices.
    netSoftnetExpose: vm.netSoftnetExpose ?? [],
    netBridged: vm['net-bridged'],
    headless: vm.headless,
    nested: vm.nested,
    suspendable: vm.suspendable,
    audio: vm.audio === true,
    clipboard: vm.clipboard === true,
    usbAccessories: vm.usbAccessories,
    hostDirs: vm.hostDirs,
    credentials: vmCredentials(vm),
  };
}

/** The VM's SSH login: its own, else Orchard's `admin`/`admin` (orchard.md §5.3). */
export function vmCredentials(vm: Pick<Vm, 'username' | 'password'>): { username: string; password: string } {
  return vm.username || vm.password
    ? { username: vm.username || 'admin', password: vm.password }
    : { username: 'admin', password: 'admin' };
}
