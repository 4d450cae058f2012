import type { Vm, VmEvent } from '@grove/resources';
import type { Socket } from 'node:net';
import type { GuestAgentAddress, VmRuntime } from '../runtime/vm-runtime';
import { ManagedVm, type ManagedVmOptions, type StartupScriptRunner } from '../vms/managed-vm';
import { OnDiskCollector } from './on-disk-collector';
import { describeSidecarChange, onlySidecarsChanged } from './sidecar-change';
import { ownedConditions, reportChanges, type ObservedState, type VmStateReport } from './state-report';
import { pairByOnDiskName, planSync, type PlannedSyncAction } from './transition-table';
import { RemoteVms } from './remote-vms';
import { VmSidecars, type VmSidecarsOptions } from './vm-sidecars';

export type { VmStateReport } from './state-report';

/** What the reconciler needs from the controller; the worker process backs it with the REST client. */
export interface ControllerPort {
  /** The VMs the controller has placed on this worker. */
  listVms(workerName: string): Promise<Vm[]>;
  /**
   * Reports a VM's state and resolves to the VM as the controller stored it, or to nothing when it does not say (a VM
   * deleted or replaced meanwhile is not an error: the next pass sees it).
   */
  reportState(name: string, report: VmStateReport): Promise<Vm | void>;
  appendEvents(name: string, events: VmEvent[]): Promise<void>;
}

export interface ReconcilerOptions {
  workerName: string;
  runtime: VmRuntime;
  controller: ControllerPort;
  runStartupScript?: StartupScriptRunner;
  log: (line: string) => void;
  /** Where the listeners of VM endpoints bind (`grove worker run --endpoint-address`); default 127.0.0.1. */
  endpointAddress?: VmSidecarsOptions['endpointAddress'];
  /** Whether VMs' `hostProcesses` run here (`grove worker run --no-host-processes` turns it off); default true. */
  hostProcesses?: VmSidecarsOptions['hostProcesses'];
  /** How long a host process has to listen on its socket; default 10 s. */
  hostProcessReadyTimeoutMs?: VmSidecarsOptions['hostProcessReadyTimeoutMs'];
  /** Told how long each completed step of a VM took (the worker's metrics). */
  onVmStep?: ManagedVmOptions['onStep'];
}

/**
 * The worker's reconciliation loop (orchard.md §5.2): each pass reads the controller's VMs for this worker, cleans up
 * on-disk clones against that list, pairs the VMs with the local ones by on-disk name, lets the pure transition table
 * decide, executes the decisions and reports what changed. Passes never overlap; requests during a pass coalesce into
 * one more pass. Long operations (stop, suspend, delete) run in the background and request a pass when they finish, so
 * one slow `tart stop` does not hold up the other VMs.
 */
export class Reconciler {
  private readonly vms = new Map<string, ManagedVm>();
  /** The endpoint listeners and host processes of VMs (orchard-2026.md §1.2.2, §1.2.3). */
  private readonly sidecars: VmSidecars;
  /** On-disk garbage collection; `create` waits for its deletion of the same name (`tart clone` refuses it). */
  private readonly garbage: OnDiskCollector;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** The list of the controller's VMs a pass works from. */
  private readonly remote: RemoteVms;

  constructor(private readonly options: ReconcilerOptions) {
    this.remote = new RemoteVms(options.controller, options.workerName);
    this.garbage = new OnDiskCollector(options.runtime, options.log);
    this.sidecars = new VmSidecars({
      workerName: options.workerName,
      runtime: options.runtime,
      log: options.log,
      endpointAddress: options.endpointAddress,
      hostProcesses: options.hostProcesses,
      hostProcessReadyTimeoutMs: options.hostProcessReadyTimeoutMs,
      onChange: () => void this.requestLocalSync(),
    });
  }

  /** The VMs this worker manages now, by on-disk name. */
  get managed(): ReadonlyMap<string, ManagedVm> {
    return this.vms;
  }

  /**
   * Asks for a pass soon that reads the controller's VMs afresh (SyncVms, the poll, a new session); returns the promise
   * of the pass that will include this request.
   */
  requestSync(): Promise<void> {
    this.remote.invalidate();
    return this.schedulePass();
  }

  /**
   * Asks for a pass because one of this worker's VMs changed (it booted, stopped, a host process ended). Such a pass
   * works from the list the last pass read, with the reports since as the controller answered them, rather than reading
   * it again (issue 13: a VM's start cost two reads of the list, one to create it and one to report it running). What
   * the controller changes meanwhile reaches the worker as SyncVms, which reads afresh, as the poll does every 5 s.
   */
  private requestLocalSync(): void {
    void this.schedulePass();
  }

  private schedulePass(): Promise<void> {
    if (this.closed) {
      return Promise.resolve();
    }
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.syncOnce();
        } catch (err) {
          this.options.log(`VM sync failed: ${(err as Error).message}`);
        }
      } while (this.again && !this.closed);
    } finally {
      this.running = undefined;
    }
  }

  /** One pass: on-disk garbage collection, then the table over every VM. */
  private async syncOnce(): Promise<void> {
    const remote = await this.remote.forPass();
    if (this.closed) {
      return;
    }
    await this.garbage.collect(remote, () => this.vms.keys());
    this.adoptSidecarOnlyChanges(remote);
    const pairs = pairByOnDiskName(
      remote.map((vm) => [vm.localName, vm] as const),
      [...this.vms].map(([name, vm]) => [name, vm.view()] as const),
    );
    if (this.closed) {
      return;
    }
    // Each action concerns one VM, and most of them wait (a state report for the controller, a listener): they run side
    // by side, so that a pass over several VMs that changed costs one round trip to the controller rather than one per
    // VM, and a VM that boots meanwhile waits less for the next pass (issue 13: create → running, 8 at a time). A
    // failure is reported once the others are done. Creates start once the others' requests are sent: cloning begins
    // with synchronous work (a synthetic clone writes its files at once), which would hold back the reports of VMs that
    // are already up.
    const planned = planSync(pairs);
    const isCreate = ({ action }: PlannedSyncAction<Vm>) => action.kind === 'create';
    const others = Promise.allSettled(planned.filter((p) => !isCreate(p)).map((p) => this.execute(p)));
    let created: PromiseSettledResult<void>[] = [];
    if (planned.some(isCreate)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.closed) {
        created = await Promise.allSettled(planned.filter(isCreate).map((p) => this.execute(p)));
      }
    }
    const outcomes = [...(await others), ...created];
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed) {
      throw failed.reason;
    }
  }

  private async execute(planned: PlannedSyncAction<Vm>): Promise<void> {
    const { action, remote, onDiskName } = planned;
    const local = this.vms.get(onDiskName);
    switch (action.kind) {
      case 'ignore':
        return;
      case 'create':
        this.create(remote!);
        return;
      case 'delete':
        await this.sidecars.closeEndpoints(onDiskName);
        this.background(local, 'delete', async (vm) => {
          await vm.delete();
          this.vms.delete(onDiskName);
        });
        return;
      case 'monitorPending':
        await this.report(remote!, { status_message: local!.statusMessage });
        return;
      case 'reportRunning':
        await this.report(remote!, {
          status: 'running',
          image_fqn: local!.imageFqn,
          ...this.observed(remote!, local!),
          observedEndpoints: await this.sidecars.syncEndpoints(remote!, local!),
        });
        return;
      case 'monitorRunning':
        this.applySpecChange(action.specChange, remote!, local!);
        await this.report(remote!, {
          ...this.observed(remote!, local!),
          observedEndpoints: await this.sidecars.syncEndpoints(remote!, local!),
        });
        return;
      case 'stop':
        await this.sidecars.closeEndpoints(onDiskName);
        this.background(local, 'stop', (vm) => vm.stop());
        return;
      case 'fail':
      case 'lostTrack':
      case 'impossible':
        await this.sidecars.closeEndpoints(onDiskName);
        this.background(local, 'stop', (vm) => vm.stop());
        await this.report(remote!, {
          status: 'failed',
          status_message: action.message,
          conditions: ownedConditions(remote!, false, local?.vm ?? remote!, false),
          observedEndpoints: [],
        });
        return;
    }
  }

  /**
   * The status message, applied generation and conditions of a VM that was launched: a host process that ended or
   * could not restart says so in the status message while the VM keeps running (orchard-2026.md §1.2.3).
   */
  private observed(remote: Vm, local: ManagedVm): ObservedState {
    const processes = this.sidecars.hostProcessesState(local);
    return {
      status_message: (local.isUp ? processes.problem : undefined) ?? local.statusMessage,
      observedGeneration: local.vm.generation,
      conditions: ownedConditions(remote, local.isUp, local.vm, processes.ready),
    };
  }

  /**
   * A spec change of only `endpoints` and/or `hostProcesses` of a running VM is applied beside it, without restarting
   * it (orchard-2026.md §1.2.2, §1.2.3): the VM takes the new spec as applied, its host processes restart (all of
   * them, as in Orchard), and the pass's endpoint sync replaces its listeners; the transition table then sees nothing
   * to do.
   */
  private adoptSidecarOnlyChanges(remote: readonly Vm[]): void {
    for (const vm of remote) {
      const local = this.vms.get(vm.localName);
      const change =
        local?.isUp && vm.generation !== local.vm.generation ? onlySidecarsChanged(local.vm, vm) : undefined;
      if (!local || !change) {
        continue;
      }
      this.options.log(`${vm.name}: only its ${describeSidecarChange(change)} changed; the VM keeps running`);
      local.adoptSpec(vm);
      if (change.hostProcesses) {
        this.sidecars.replaceHostProcesses(local);
      }
    }
  }

  private applySpecChange(
    step: Extract<PlannedSyncAction['action'], { kind: 'monitorRunning' }>['specChange'],
    remote: Vm,
    local: ManagedVm,
  ): void {
    switch (step) {
      case 'none':
      case 'waitForPowerChange':
        return;
      case 'stop':
        this.background(local, 'stop', (vm) => vm.stop());
        return;
      case 'suspend':
        this.background(local, 'suspend', (vm) => vm.suspend());
        return;
      case 'startWithNewSpec':
        local.startWithNewSpec(remote);
        return;
      case 'adoptSpecOnly':
        local.adoptSpec(remote);
        return;
    }
  }

  private create(remote: Vm): void {
    const collecting = this.garbage.pending(remote.localName);
    if (collecting) {
      // The stale clone of this very incarnation is being deleted; clone once it is gone. A failed deletion asks for no
      // pass, so that it is retried at the poll's pace rather than in a tight loop.
      void collecting.then((deleted) => {
        if (deleted) {
          this.requestLocalSync();
        }
      });
      return;
    }
    const vm = new ManagedVm(remote, {
      runtime: this.options.runtime,
      runStartupScript: this.options.runStartupScript,
      log: this.options.log,
      // Host processes start before each run and stop when it ends (orchard-2026.md §1.2.3).
      beforeRun: (managed, signal) => this.sidecars.startHostProcesses(managed, signal),
      afterRun: (managed) => this.sidecars.stopHostProcesses(managed.onDiskName),
      onStep: this.options.onVmStep,
    });
    vm.on('change', () => this.requestLocalSync());
    this.vms.set(remote.localName, vm);
    this.options.log(`creating VM ${remote.name} as ${remote.localName} from ${remote.image}`);
    vm.create();
  }

  /**
   * Runs a slow VM operation without holding up the pass. What it changes reaches the next pass through the VM's own
   * `change` events; asking for a pass on every completion would spin when the operation changes nothing (stopping a
   * VM that is already down).
   */
  private background(vm: ManagedVm | undefined, what: string, run: (vm: ManagedVm) => Promise<void>): void {
    if (!vm) {
      return;
    }
    run(vm).catch((err: Error) => {
      this.options.log(`${what} of ${vm.onDiskName} failed: ${err.message}`);
      if (what === 'delete') {
        // Forget it anyway: the next pass's on-disk garbage collection retries the deletion.
        this.vms.delete(vm.onDiskName);
      }
    });
  }

  /** Sends only what differs from the controller's copy, so a steady VM costs no writes. */
  private async report(remote: Vm, wanted: ObservedState): Promise<void> {
    const changed = reportChanges(remote, wanted);
    if (!changed) {
      return;
    }
    let stored: Vm | void = undefined;
    try {
      stored = await this.options.controller.reportState(remote.name, {
        uid: remote.uid,
        restart_count: remote.restart_count,
        ...changed,
      });
    } finally {
      // The next pass starts from the controller's answer, or reads the list again when there was none.
      this.remote.reported(remote, stored);
    }
  }

  /** A TCP connection to a port of a running VM, for a tunnel session. */
  connect(vmUid: string, port: number, signal: AbortSignal): Promise<Socket> {
    const vm = this.runningVm(vmUid);
    return this.options.runtime.connect(vm.onDiskName, port, signal);
  }

  /**
   * A connection to a host process of a VM of this worker, for a tunnel session (also while the VM boots: the processes
   * run first); waits while the process starts, throws `host process "x" is not running` when it does not run.
   */
  connectHostProcess(vmUid: string, name: string, signal: AbortSignal): Promise<Socket> {
    const vm = this.vmByUid(vmUid);
    if (!vm) {
      return Promise.reject(new Error(`VM with uid ${vmUid} is not running on this worker`));
    }
    return this.sidecars.connectHostProcess(vm.onDiskName, name, signal);
  }

  /** Where the guest agent of a running VM answers, for an exec session; throws when the VM does not run here. */
  guestAgent(vmUid: string): GuestAgentAddress {
    return this.options.runtime.guestAgent(this.runningVm(vmUid).onDiskName);
  }

  private vmByUid(vmUid: string): ManagedVm | undefined {
    return [...this.vms.values()].find((candidate) => candidate.vm.uid === vmUid);
  }

  private runningVm(vmUid: string): ManagedVm {
    const vm = this.vmByUid(vmUid);
    if (!vm?.isUp) {
      throw new Error(`VM with uid ${vmUid} is not running on this worker`);
    }
    return vm;
  }

  /** The IP of a VM this worker runs, for the controller's `ResolveIp`. */
  async resolveIp(vmUid: string, signal: AbortSignal): Promise<string> {
    const vm = this.runningVm(vmUid);
    return this.options.runtime.ip(vm.onDiskName, { bridged: vm.vm['net-bridged'] !== '', waitSeconds: 60 }, signal);
  }

  /** Stops passes and then every VM, and deletes them (Orchard's worker does the same when it exits). */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.garbage.settled();
    await Promise.allSettled(
      [...this.vms.values()].map((vm) =>
        vm.delete().catch((err: Error) => this.options.log(`deleting ${vm.onDiskName} failed: ${err.message}`)),
      ),
    );
    // Whatever a failed deletion left running beside its VM.
    await this.sidecars.close();
    this.vms.clear();
  }
}
