import type { Socket } from 'node:net';
import {
  RuntimeError,
  type GuestAgentAddress,
  type UdpTarget,
  type OnDiskVm,
  type VmHardware,
  type VmRunExit,
  type VmRunOptions,
  type VmRuntime,
} from '../runtime/vm-runtime';

type Step = 'pull' | 'clone' | 'configure' | 'run' | 'suspend' | 'delete';

/**
 * A scripted runtime for the reconciler's unit tests: every call is recorded, steps succeed at once unless a failure
 * is set for them or the test holds them (`hold`), and a run lasts until `stop`, `suspend`, the abort signal or the
 * test's `exit()` ends it. The real runtimes have their own tests; this one lets the lifecycle be checked call by call.
 */
export class FakeRuntime implements VmRuntime {
  readonly kind = 'synthetic';
  readonly reportedRuntime = 'tart';
  readonly calls: string[] = [];
  readonly runs = new Map<string, VmRunOptions>();
  readonly onDisk = new Map<string, { running: boolean; suspended: boolean }>();
  /** Messages of RuntimeErrors to throw, by step. */
  readonly failures = new Map<Step, string>();
  private readonly endRun = new Map<string, (exit: VmRunExit) => void>();
  private readonly held = new Map<Step, Promise<void>>();

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  pull(image: string): Promise<void> {
    return this.step('pull', `pull ${image}`);
  }

  async clone(image: string, name: string): Promise<void> {
    const cloning = this.step('clone', `clone ${image} ${name}`);
    // Like `tart clone`, the VM is listed from the moment its copy starts.
    this.onDisk.set(name, { running: false, suspended: false });
    try {
      await cloning;
    } catch (err) {
      this.onDisk.delete(name);
      throw err;
    }
  }

  fqn(image: string): Promise<string | undefined> {
    this.calls.push(`fqn ${image}`);
    return Promise.resolve(`${image}@sha256:feed`);
  }

  isSuspended(name: string): Promise<boolean> {
    return Promise.resolve(this.onDisk.get(name)?.suspended ?? false);
  }

  configure(name: string, hardware: VmHardware): Promise<void> {
    return this.step('configure', `configure ${name} cpu=${hardware.cpu} memory=${hardware.memory}`);
  }

  async run(name: string, options: VmRunOptions, signal: AbortSignal): Promise<VmRunExit> {
    await this.step('run', `run ${name}`);
    const disk = this.onDisk.get(name)!;
    disk.running = true;
    disk.suspended = false;
    this.runs.set(name, options);
    return new Promise<VmRunExit>((resolve) => {
      const end = (exit: VmRunExit) => {
        this.endRun.delete(name);
        disk.running = false;
        signal.removeEventListener('abort', onAbort);
        resolve(exit);
      };
      const onAbort = () => end({ code: null });
      signal.addEventListener('abort', onAbort);
      this.endRun.set(name, end);
    });
  }

  stop(name: string, timeoutSeconds: number): Promise<void> {
    this.calls.push(`stop ${name} ${timeoutSeconds}`);
    this.endRun.get(name)?.({ code: 0 });
    // A VM the test put on disk as running (left by an earlier worker process) has no run to end.
    const disk = this.onDisk.get(name);
    if (disk) {
      disk.running = false;
    }
    return Promise.resolve();
  }

  async suspend(name: string): Promise<void> {
    await this.step('suspend', `suspend ${name}`);
    this.onDisk.get(name)!.suspended = true;
    this.endRun.get(name)?.({ code: 0 });
  }

  async delete(name: string): Promise<void> {
    await this.step('delete', `delete ${name}`);
    this.onDisk.delete(name);
  }

  list(): Promise<OnDiskVm[]> {
    return Promise.resolve([...this.onDisk].map(([name, vm]) => ({ name, running: vm.running })));
  }

  ip(): Promise<string> {
    return Promise.resolve('192.168.64.7');
  }

  connect(): Promise<Socket> {
    return Promise.reject(new RuntimeError('the fake runtime has no network'));
  }

  udpTarget(): Promise<UdpTarget> {
    return Promise.reject(new RuntimeError('the fake runtime has no network'));
  }

  guestAgent(name: string): GuestAgentAddress {
    return { target: `unix:///fake/${name}/control.sock` };
  }

  /** Ends a run as if the VM had shut down or crashed by itself. */
  exit(name: string, exit: VmRunExit): void {
    this.endRun.get(name)!(exit);
  }

  isRunning(name: string): boolean {
    return this.endRun.has(name);
  }

  /** Makes every call of `step` from now on wait (after being recorded) until the returned function is called. */
  hold(step: Step): () => void {
    let release: () => void = () => undefined;
    this.held.set(step, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.held.delete(step);
      release();
    };
  }

  private async step(step: Step, call: string): Promise<void> {
    this.calls.push(call);
    await this.held.get(step);
    const failure = this.failures.get(step);
    if (failure !== undefined) {
      throw new RuntimeError(failure);
    }
  }
}
