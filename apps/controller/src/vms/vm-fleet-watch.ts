import type { ServerResponse } from 'node:http';
import type { Vm, WatchMessage } from '@grove/resources';
import type { VmChange, VmChangeBus } from './vm-change-bus';
import type { VmWatchStreams } from './vm-watch';

/**
 * How many bytes of changes a stream may hold for a client that does not read them (a laptop asleep, a stuck tab)
 * before it is cut: about three times a 10,000-VM fleet's list. The client watches again and gets the whole fleet.
 */
export const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/**
 * How many changes a stream may hold back while it is still sending the list (they follow it) before it is cut: a
 * client that stopped reading in the middle of the list would otherwise hold every change of the fleet from then on.
 */
export const MAX_PENDING_CHANGES = 20_000;

/** Resolves when `raw` can take more, or is closed; leaves no listener behind either way. */
function drainedOrClosed(raw: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}

/** What the stream remembers of a VM it announced: enough to tell a newer change, and a recreated VM, from a stale one. */
interface Announced {
  uid: string;
  version: number;
}

/**
 * `GET /v1/vms?watch=true` (issue 16): the whole fleet as NDJSON until the client goes away or `streams` closes it at
 * shutdown: ADDED for each VM as the list reads it (chunk by chunk, in name order, waiting for the client to take each
 * chunk), then ADDED, MODIFIED and DELETED as VMs change, in the single-VM watch's message shape (vm-watch.ts).
 * Subscribing before listing means no change is lost; a change at or below a version already sent is skipped, and a
 * deletion of a VM the stream never announced is not sent. Changes of the other replicas arrive through the bus. Per
 * stream, only each announced VM's uid and version are kept, not the documents.
 */
export async function streamFleetWatch(
  begin: () => ServerResponse,
  bus: VmChangeBus,
  list: () => Promise<AsyncIterable<string>>,
  streams: VmWatchStreams,
  { maxBufferedBytes = MAX_BUFFERED_BYTES, maxPendingChanges = MAX_PENDING_CHANGES } = {},
): Promise<void> {
  const announced = new Map<string, Announced>();
  const pending: VmChange[] = [];
  let ready = false;
  let begun: ServerResponse | undefined = undefined;
  const hold = (change: VmChange) => {
    pending.push(change);
    if (begun && pending.length > maxPendingChanges) {
      pending.length = 0;
      begun.destroy();
    }
  };

  const unsubscribe = bus.subscribeAll((change) => (ready ? deliver(change) : hold(change)));
  let chunks: AsyncIterable<string>;
  try {
    // The first chunk is read before the answer starts: a database failure is still an error status.
    chunks = await list();
  } catch (err) {
    unsubscribe();
    throw err;
  }
  const raw = begin();
  begun = raw;
  raw.on('close', unsubscribe);
  raw.on('finish', unsubscribe);

  const open = () => !raw.writableEnded && !raw.destroyed;
  const send = (message: WatchMessage<Vm>): boolean => (open() ? raw.write(`${JSON.stringify(message)}\n`) : true);
  /** A change: the client that stopped reading is cut rather than held in memory without bound. */
  const sendChange = (message: WatchMessage<Vm>) => {
    send(message);
    if (open() && raw.writableLength > maxBufferedBytes) {
      raw.destroy();
    }
  };
  const deliver = (change: VmChange) => {
    const { name, uid, version } = change.vm;
    const known = announced.get(name);
    if (change.type === 'DELETED') {
      if (known && known.uid === uid) {
        announced.delete(name);
        sendChange({ type: 'DELETED', object: change.vm });
      }
      return;
    }
    if (known && known.uid === uid && version <= known.version) {
      return;
    }
    announced.set(name, { uid, version });
    sendChange({ type: known && known.uid === uid ? 'MODIFIED' : 'ADDED', object: change.vm });
  };

  raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  raw.flushHeaders();
  streams.add(raw);
  try {
    for await (const json of chunks) {
      if (!open()) {
        return;
      }
      let flowing = true;
      for (const vm of JSON.parse(`[${json}]`) as Vm[]) {
        announced.set(vm.name, { uid: vm.uid, version: vm.version });
        flowing = send({ type: 'ADDED', object: vm }) && flowing;
      }
      // More is asked for once the client took this chunk (the list reads one ahead): a slow client holds about
      // two chunks, not the fleet.
      if (!flowing && open()) {
        await drainedOrClosed(raw);
      }
    }
  } catch (err) {
    // The 200 is sent: a failed read can only cut the stream, which the client sees and watches again.
    unsubscribe();
    raw.destroy(err as Error);
    return;
  }
  ready = true;
  for (const change of pending.splice(0)) {
    deliver(change);
  }
}
