import type { Socket } from 'node:net';
import type { Vm, VmObservedEndpoint } from '@grove/resources';
import { DEFAULT_ENDPOINT_ADDRESS, VmEndpointSet } from '../endpoints/vm-endpoint-set';
import { HostProcessSet } from '../host-processes/host-process-set';
import { unixSocketPath, type VmRuntime } from '../runtime/vm-runtime';
import type { ManagedVm } from '../vms/managed-vm';

/** What a VM with `hostProcesses` says on a worker started with `--no-host-processes`. */
export const HOST_PROCESSES_DISABLED_MESSAGE =
  'this worker does not run host processes (it was started with --no-host-processes)';

export interface VmSidecarsOptions {
  workerName: string;
  runtime: VmRuntime;
  log: (line: string) => void;
  /** Where the listeners of VM endpoints bind (`grove worker run --endpoint-address`); default 127.0.0.1. */
  endpointAddress?: string;
  /** Whether VMs' `hostProcesses` run here (false: `--no-host-processes`); default true. */
  hostProcesses?: boolean;
  /** How long a host process has to listen on its socket; default 10 s (tests shorten it). */
  hostProcessReadyTimeoutMs?: number;
  /** Something to report changed on its own (a host process ended): asks for a pass. */
  onChange: () => void;
}

/** The `host-processes-ready` condition of a VM and, while it is false, why. */
export interface HostProcessesState {
  ready: boolean;
  problem?: string;
}

/**
 * What the worker runs beside each VM, by on-disk name: the listeners of its `endpoints` (orchard-2026.md §1.2.2),
 * open while the VM runs, and its `hostProcesses` (§1.2.3), started before each `run` and stopped when it ends. A
 * change of only these is applied here without restarting the VM.
 */
export class VmSidecars {
  private readonly endpointSets = new Map<string, VmEndpointSet>();
  private readonly processSets = new Map<string, HostProcessSet>();

  constructor(private readonly options: VmSidecarsOptions) {}

  /**
   * Opens, replaces or closes the endpoint listeners of a VM: they exist while its process is up and it is to keep
   * running; returns what to report as its `observedEndpoints`.
   */
  async syncEndpoints(remote: Vm, local: ManagedVm): Promise<VmObservedEndpoint[]> {
    const wanted = local.isUp && remote.powerState === 'running' ? (remote.endpoints ?? []) : [];
    if (wanted.length === 0) {
      await this.closeEndpoints(local.onDiskName);
      return [];
    }
    let set = this.endpointSets.get(local.onDiskName);
    if (!set) {
      const { runtime, log } = this.options;
      const onDiskName = local.onDiskName;
      set = new VmEndpointSet({
        address: this.options.endpointAddress ?? DEFAULT_ENDPOINT_ADDRESS,
        target: {
          connectTcp: (port, signal) => runtime.connect(onDiskName, port, signal),
          udpTarget: (port, signal) => runtime.udpTarget(onDiskName, port, signal),
        },
        log: (line) => log(`${remote.name}: ${line}`),
      });
      this.endpointSets.set(onDiskName, set);
    }
    await set.reconcile(wanted);
    return set.observed();
  }

  async closeEndpoints(onDiskName: string): Promise<void> {
    const set = this.endpointSets.get(onDiskName);
    this.endpointSets.delete(onDiskName);
    await set?.close();
  }

  /**
   * Starts the VM's host processes before its `run` (ManagedVm's `beforeRun`) and resolves once all are ready; rejects
   * with `failed to start host process "NAME": …` (then none runs), or when this worker does not run host processes.
   */
  async startHostProcesses(vm: ManagedVm, signal: AbortSignal): Promise<void> {
    const specs = vm.vm.hostProcesses ?? [];
    if (specs.length === 0) {
      return;
    }
    if (this.options.hostProcesses === false) {
      throw new Error(HOST_PROCESSES_DISABLED_MESSAGE);
    }
    await this.stopHostProcesses(vm.onDiskName);
    const set = this.newProcessSet(vm);
    this.processSets.set(vm.onDiskName, set);
    const cancel = () => void set.close();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      await set.start(specs);
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  /** Stops the VM's host processes (ManagedVm's `afterRun`: its run ended, or never began). */
  async stopHostProcesses(onDiskName: string): Promise<void> {
    const set = this.processSets.get(onDiskName);
    this.processSets.delete(onDiskName);
    await set?.close();
  }

  /**
   * Restarts every host process of a running VM with its (newly adopted) spec, in the background: a spec change of only
   * `hostProcesses` (orchard-2026.md §1.2.3). A process that cannot start then shows in the condition and status.
   */
  replaceHostProcesses(vm: ManagedVm): void {
    if (this.options.hostProcesses === false) {
      return;
    }
    const specs = vm.vm.hostProcesses ?? [];
    let set = this.processSets.get(vm.onDiskName);
    if (!set) {
      if (specs.length === 0) {
        return;
      }
      set = this.newProcessSet(vm);
      this.processSets.set(vm.onDiskName, set);
    }
    this.options.log(`${vm.name}: restarting its host processes for generation ${vm.vm.generation}`);
    void set.replace(specs);
  }

  /**
   * The VM's `host-processes-ready` condition: true while it runs and every process its applied spec declares runs
   * and accepts connections (also when it declares none); with why not, when there is something to say.
   */
  hostProcessesState(vm: ManagedVm): HostProcessesState {
    const declared = (vm.vm.hostProcesses ?? []).length > 0;
    if (declared && this.options.hostProcesses === false) {
      return { ready: false, problem: HOST_PROCESSES_DISABLED_MESSAGE };
    }
    if (!vm.isUp) {
      return { ready: false };
    }
    const set = this.processSets.get(vm.onDiskName);
    if (!set) {
      return { ready: !declared };
    }
    return set.ready ? { ready: true } : { ready: false, problem: set.problem };
  }

  /** A connection to a host process of the VM; throws `host process "x" is not running` when it does not run. */
  connectHostProcess(onDiskName: string, name: string, signal: AbortSignal): Promise<Socket> {
    if (this.options.hostProcesses === false) {
      return Promise.reject(new Error(HOST_PROCESSES_DISABLED_MESSAGE));
    }
    const set = this.processSets.get(onDiskName);
    return set ? set.connect(name, signal) : Promise.reject(new Error(`host process "${name}" is not running`));
  }

  /** Closes every listener and stops every host process (the worker is stopping). */
  async close(): Promise<void> {
    await Promise.all([
      ...[...this.endpointSets.keys()].map((name) => this.closeEndpoints(name)),
      ...[...this.processSets.keys()].map((name) => this.stopHostProcesses(name)),
    ]);
  }

  private newProcessSet(vm: ManagedVm): HostProcessSet {
    const { log } = this.options;
    const target = this.options.runtime.guestAgent(vm.onDiskName).target;
    return new HostProcessSet({
      workerName: this.options.workerName,
      vmName: vm.name,
      // Every runtime's control socket is a unix socket; the alias is only dangling if one ever is not.
      controlSocket: unixSocketPath(target) ?? target,
      // Host processes get the worker's own PATH.
      path: process.env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin',
      readyTimeoutMs: this.options.hostProcessReadyTimeoutMs,
      log: (line) => log(`${vm.name}: ${line}`),
      onChange: this.options.onChange,
    });
  }
}
