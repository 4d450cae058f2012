import type { GroveClient } from '@grove/client';
import type { Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';

/** Resolves with VM `name` once the controller reports it `running`; fails after `timeoutMs`. */
export function untilRunning(client: GroveClient, name: string, timeoutMs = 20_000): Promise<Vm> {
  return waitFor(
    `VM ${name} running`,
    async () => {
      const vm = await client.vms.get(name);
      return vm.status === 'running' ? vm : undefined;
    },
    timeoutMs,
    50,
  );
}
