import { sameEndpoints, sameHostProcesses, VM_SPEC_FIELDS, type Vm } from '@grove/resources';

/** Which of a running VM's sidecars a spec change touches. */
export interface SidecarChange {
  /** `endpoints` changed: the listeners are replaced (orchard-2026.md §1.2.2). */
  endpoints: boolean;
  /** `hostProcesses` changed: every host process of the VM is restarted (orchard-2026.md §1.2.3). */
  hostProcesses: boolean;
}

/** The spec fields that the worker applies beside a running VM, without restarting it. */
const SIDECAR_FIELDS: readonly string[] = ['endpoints', 'hostProcesses'];

/**
 * Whether the spec `remote` asks for differs from the `applied` one in `endpoints` and/or `hostProcesses` only (and
 * so in generation), and in which: the worker then replaces those and leaves the VM running. Undefined when anything
 * else changed too, or nothing did.
 */
export function onlySidecarsChanged(applied: Vm, remote: Vm): SidecarChange | undefined {
  const change = {
    endpoints: !sameEndpoints(applied.endpoints, remote.endpoints),
    hostProcesses: !sameHostProcesses(applied.hostProcesses, remote.hostProcesses),
  };
  if (!change.endpoints && !change.hostProcesses) {
    return undefined;
  }
  const restUnchanged = VM_SPEC_FIELDS.every(
    (field) => SIDECAR_FIELDS.includes(field) || JSON.stringify(applied[field]) === JSON.stringify(remote[field]),
  );
  return restUnchanged ? change : undefined;
}

/** `endpoints`, `host processes` or both, for the worker's log. */
export function describeSidecarChange(change: SidecarChange): string {
  return [change.endpoints ? 'endpoints' : '', change.hostProcesses ? 'host processes' : '']
    .filter(Boolean)
    .join(' and ');
}
