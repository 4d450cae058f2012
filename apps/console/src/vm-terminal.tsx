import type { Vm } from './types';

/** Placeholder until the Terminal tab lands (issue 16). */
export function VmTerminal({ vm }: { vm: Vm }) {
  return <p class="muted">Terminal of {vm.name}: not available yet.</p>;
}
