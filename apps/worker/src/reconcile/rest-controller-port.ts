import { ApiError, type GroveClient } from '@grove/client';
import type { Vm, VmEvent } from '@grove/resources';
import type { ControllerPort, VmStateReport } from './reconciler';

/**
 * The controller side of the reconciler over REST; reports about VMs deleted or replaced meanwhile are dropped (and
 * answer nothing), the others answer the VM as stored.
 */
export function restControllerPort(client: GroveClient): ControllerPort {
  return {
    listVms: (workerName: string): Promise<Vm[]> => client.vms.list({ worker: workerName }),
    reportState: async (name: string, report: VmStateReport): Promise<Vm | void> => {
      try {
        return await client.vms.updateState(name, report);
      } catch (err) {
        if (err instanceof ApiError && (err.status === 404 || err.status === 409)) {
          return;
        }
        throw err;
      }
    },
    appendEvents: (name: string, events: VmEvent[]): Promise<void> => client.vms.appendEvents(name, events),
  };
}
