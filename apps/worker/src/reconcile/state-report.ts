import type { Vm, VmCondition, VmObservedEndpoint } from '@grove/resources';

/** The fields of `PUT /v1/vms/{name}/state` a worker sends; `uid` and `restart_count` name the incarnation. */
export interface VmStateReport {
  uid: string;
  restart_count: number;
  status?: Vm['status'];
  status_message?: string;
  image_fqn?: string;
  observedGeneration?: number;
  conditions?: VmCondition[];
  /** The worker's listeners for the VM's endpoints; `[]` when it has none (any more). */
  observedEndpoints?: VmObservedEndpoint[];
}

/** What the worker observes of one VM incarnation: a state report without the incarnation's name. */
export type ObservedState = Omit<VmStateReport, 'uid' | 'restart_count'>;

/**
 * What of `wanted` differs from the controller's copy of the VM, or undefined when nothing does, so that a steady VM
 * costs no writes. The conditions go as a whole when any of them differs; an absent `running` condition counts as
 * false, an absent `host-processes-ready` as different from either state.
 */
export function reportChanges(remote: Vm, wanted: ObservedState): ObservedState | undefined {
  const changed: ObservedState = {};
  if (wanted.status !== undefined && wanted.status !== remote.status) {
    changed.status = wanted.status;
  }
  if (wanted.status_message !== undefined && wanted.status_message !== remote.status_message) {
    changed.status_message = wanted.status_message;
  }
  if (wanted.image_fqn && wanted.image_fqn !== remote.image_fqn) {
    changed.image_fqn = wanted.image_fqn;
  }
  if (wanted.observedGeneration !== undefined && wanted.observedGeneration !== remote.observedGeneration) {
    changed.observedGeneration = wanted.observedGeneration;
  }
  if (
    wanted.observedEndpoints !== undefined &&
    JSON.stringify(wanted.observedEndpoints) !== JSON.stringify(remote.observedEndpoints ?? [])
  ) {
    changed.observedEndpoints = wanted.observedEndpoints;
  }
  const remoteState = (type: VmCondition['type']) =>
    remote.conditions.find((c) => c.type === type)?.state ?? (type === 'running' ? 'false' : undefined);
  if (wanted.conditions?.some((c) => c.state !== remoteState(c.type))) {
    changed.conditions = wanted.conditions;
  }
  return Object.keys(changed).length > 0 ? changed : undefined;
}

/**
 * The conditions the worker owns: `running`, and `host-processes-ready` (orchard-2026.md §1.2.3) for a VM whose
 * applied spec declares host processes, or whose controller copy has the condition from an earlier spec that did.
 */
export function ownedConditions(remote: Vm, up: boolean, applied: Vm, processesReady: boolean): VmCondition[] {
  const owned: VmCondition[] = [{ type: 'running', state: up ? 'true' : 'false' }];
  if ((applied.hostProcesses ?? []).length > 0 || remote.conditions.some((c) => c.type === 'host-processes-ready')) {
    owned.push({ type: 'host-processes-ready', state: processesReady ? 'true' : 'false' });
  }
  return owned;
}
