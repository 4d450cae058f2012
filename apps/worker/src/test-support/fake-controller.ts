import { randomUUID } from 'node:crypto';
import {
  DEFAULT_CLUSTER_SETTINGS,
  newVm,
  setCondition,
  type Vm,
  type VmCreateInput,
  type VmEvent,
} from '@grove/resources';
import { waitFor } from '@grove/testing';
import { Reconciler, type ControllerPort, type ReconcilerOptions, type VmStateReport } from '../reconcile/reconciler';
import { FakeRuntime } from './fake-runtime';

export const WORKER = 'mac-1';

/** The controller's side as the reconciler sees it (for its unit tests), applying reports as `PUT /v1/vms/{name}/state` does. */
export class FakeController implements ControllerPort {
  readonly vms = new Map<string, Vm>();
  readonly reports: { name: string; report: VmStateReport }[] = [];
  /** How many times the reconciler read the list. */
  lists = 0;

  /** Runs after each `listVms` has taken its copy: what changes then reaches the reconciler only in a later pass. */
  afterList: (() => void) | undefined;

  listVms(): Promise<Vm[]> {
    this.lists++;
    const copy = [...this.vms.values()].map((vm) => structuredClone(vm));
    this.afterList?.();
    return Promise.resolve(copy);
  }

  /** Answers the VM as stored, as `PUT /v1/vms/{name}/state` does; nothing for another incarnation (a 409 dropped). */
  reportState(name: string, report: VmStateReport): Promise<Vm | void> {
    this.reports.push({ name, report });
    const vm = this.vms.get(name);
    if (vm && vm.uid === report.uid) {
      // The worker's own conditions replace the controller's copies of them; `scheduled` stays.
      let conditions = vm.conditions;
      for (const reported of report.conditions ?? []) {
        conditions = setCondition(conditions, reported.type, reported.state === 'true');
      }
      this.vms.set(name, {
        ...vm,
        status: report.status ?? vm.status,
        status_message: report.status_message ?? vm.status_message,
        image_fqn: report.image_fqn ?? vm.image_fqn,
        observedGeneration: report.observedGeneration ?? vm.observedGeneration,
        conditions,
        observedEndpoints:
          report.observedEndpoints === undefined
            ? vm.observedEndpoints
            : report.observedEndpoints.length > 0
              ? report.observedEndpoints
              : undefined,
      });
      return Promise.resolve(structuredClone(this.vms.get(name)));
    }
    return Promise.resolve();
  }

  appendEvents(_name: string, _events: VmEvent[]): Promise<void> {
    return Promise.resolve();
  }

  /** A VM the scheduler has placed on this worker. */
  place(input: VmCreateInput & { name: string }): Vm {
    const vm = newVm(
      { image: 'ghcr.io/acme/macos:latest', ...input },
      DEFAULT_CLUSTER_SETTINGS,
      randomUUID(),
      new Date(),
    );
    const placed: Vm = { ...vm, worker: WORKER, conditions: setCondition(vm.conditions, 'scheduled', true) };
    this.vms.set(placed.name, placed);
    return placed;
  }

  update(name: string, change: Partial<Vm>): void {
    this.vms.set(name, { ...this.vms.get(name)!, ...change });
  }

  get(name: string): Vm {
    return this.vms.get(name)!;
  }
}

/** A reconciler for worker WORKER over a fake runtime and a fake controller. */
export function setupReconciler(
  options: {
    startupScript?: (signal: AbortSignal) => Promise<void>;
    hostProcesses?: boolean;
    hostProcessReadyTimeoutMs?: number;
    onVmStep?: ReconcilerOptions['onVmStep'];
  } = {},
) {
  const runtime = new FakeRuntime();
  const controller = new FakeController();
  const logs: string[] = [];
  const reconciler = new Reconciler({
    workerName: WORKER,
    runtime,
    controller,
    runStartupScript: options.startupScript ? (_vm, signal) => options.startupScript!(signal) : undefined,
    log: (line) => logs.push(line),
    hostProcesses: options.hostProcesses,
    hostProcessReadyTimeoutMs: options.hostProcessReadyTimeoutMs,
    onVmStep: options.onVmStep,
  });
  /** Syncs until the controller's copy of the VM satisfies the probe (VM changes also trigger passes). */
  const until = (what: string, probe: () => boolean) =>
    waitFor(what, async () => {
      await reconciler.requestSync();
      return probe();
    });
  return { runtime, controller, reconciler, logs, until };
}
