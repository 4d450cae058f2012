import { sameEndpoints, VM_SPEC_FIELDS, type Vm } from '@grove/resources';

/**
 * Whether the spec `remote` asks for differs from the `applied` one in `endpoints` only (and so in generation): the
 * worker then replaces the VM's endpoint listeners and leaves the VM running (orchard-2026.md §1.2.2).
 */
export function onlyEndpointsChanged(applied: Vm, remote: Vm): boolean {
  if (sameEndpoints(applied.endpoints, remote.endpoints)) {
    return false;
  }
  return VM_SPEC_FIELDS.every(
    (field) => field === 'endpoints' || JSON.stringify(applied[field]) === JSON.stringify(remote[field]),
  );
}
