import { setTimeout as delay } from 'node:timers/promises';
import type { GroveClient } from '@grove/client';
import { CliError } from '../cli.errors';
import type { CommandIo, GlobalOptions } from './io';
import { withClient } from './session';

export interface PauseOptions extends GlobalOptions {
  /** Seconds to wait for the worker's VMs to go away; undefined = do not wait. */
  wait?: number;
  /** Poll interval; one second as in Orchard, shorter only in tests. */
  pollMs?: number;
}

/** Sets `scheduling_paused`; only the name and the flag are sent, so a concurrent heartbeat keeps `last_seen`. */
async function setPaused(client: GroveClient, name: string, paused: boolean): Promise<void> {
  await client.workers.get(name);
  await client.workers.update(name, { name, scheduling_paused: paused });
}

/** Names of the VMs still on the worker that are not failed (failed VMs hold nothing). */
async function remainingVms(client: GroveClient, worker: string): Promise<string[]> {
  const vms = await client.vms.list({ worker });
  return vms.filter((vm) => vm.worker === worker && vm.status !== 'failed').map((vm) => vm.name);
}

export async function pauseWorker(io: CommandIo, name: string, options: PauseOptions): Promise<void> {
  await withClient(io, options, async (client) => {
    await setPaused(client, name, true);
    io.out(`Worker "${name}" paused: no new VMs will be scheduled on it.\n`);
    if (options.wait === undefined) {
      return;
    }
    const deadline = Date.now() + options.wait * 1000;
    const pollMs = options.pollMs ?? 1000;
    let shown = -1;
    for (;;) {
      const left = await remainingVms(client, name);
      if (left.length === 0) {
        io.out(`Worker "${name}" has no VMs left.\n`);
        return;
      }
      if (Date.now() >= deadline) {
        throw new CliError(
          `worker "${name}" still has ${left.length} VM(s) after ${options.wait} s: ${left.join(', ')}`,
        );
      }
      if (left.length !== shown) {
        shown = left.length;
        io.out(`Waiting for ${left.length} VM(s) to leave worker "${name}": ${left.join(', ')}\n`);
      }
      await delay(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    }
  });
}

export async function resumeWorker(io: CommandIo, name: string, options: GlobalOptions): Promise<void> {
  await withClient(io, options, (client) => setPaused(client, name, false));
  io.out(`Worker "${name}" resumed: VMs can be scheduled on it again.\n`);
}
