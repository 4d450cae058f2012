import type { Vm } from './types';

/** Placeholder until the Screen tab lands (issue 16). */
export function VmScreen({ vm }: { vm: Vm }) {
  return <p class="muted">Screen of {vm.name}: not available yet.</p>;
}
