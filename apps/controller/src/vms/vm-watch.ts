import type { ServerResponse } from 'node:http';
import type { Vm, WatchMessage } from '@grove/resources';
import type { VmChange, VmChangeBus } from './vm-change-bus';

/**
 * Streams the changes of one VM as NDJSON until the client goes away (orchard.md §1.6): ADDED for the VM as it is
 * when the watch starts (or when it is created later), MODIFIED for each committed write, DELETED on deletion.
 * Subscribing before reading means no change between the read and the subscription is lost; versions at or below
 * the one already sent are skipped.
 */
export async function streamVmWatch(
  name: string,
  raw: ServerResponse,
  bus: VmChangeBus,
  read: () => Promise<Vm | undefined>,
): Promise<void> {
  const pending: VmChange[] = [];
  let ready = false;
  let lastVersion = 0;
  let exists = false;

  const send = (message: WatchMessage<Vm>) => {
    raw.write(`${JSON.stringify(message)}\n`);
  };
  const deliver = (change: VmChange) => {
    if (change.type === 'DELETED') {
      exists = false;
      send({ type: 'DELETED', object: change.vm });
      return;
    }
    if (change.vm.version <= lastVersion) {
      return;
    }
    lastVersion = change.vm.version;
    send({ type: exists ? 'MODIFIED' : 'ADDED', object: change.vm });
    exists = true;
  };
  const unsubscribe = bus.subscribe(name, (change) => (ready ? deliver(change) : pending.push(change)));
  raw.on('close', unsubscribe);

  raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // A watch on a VM that does not exist yet sends nothing for a while; the client should see the 200 at once.
  raw.flushHeaders();
  const current = await read();
  if (current) {
    exists = true;
    lastVersion = current.version;
    send({ type: 'ADDED', object: current });
  }
  ready = true;
  for (const change of pending.splice(0)) {
    deliver(change);
  }
}
