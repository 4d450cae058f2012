import type { Vm } from './types';

/** Placeholder until the Ports tab lands (issue 16). */
export function VmPorts({ vm }: { vm: Vm }) {
  return <p class="muted">Ports of {vm.name}: not available yet.</p>;
}
