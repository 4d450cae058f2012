import type { Vm } from './types';

/** The VM's spec, conditions, events and startup-script logs. */
export function VmOverview({ vm }: { vm: Vm }) {
  return (
    <div class="card">
      <h2>Spec</h2>
      <pre class="code">{JSON.stringify(vm, null, 2)}</pre>
    </div>
  );
}
