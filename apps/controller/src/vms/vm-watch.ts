import type { ServerResponse } from 'node:http';
import type { Vm, WatchMessage } from '@grove/resources';
import type { VmChange, VmChangeBus } from './vm-change-bus';

/**
 * The watch streams in progress, so that shutdown can end them: a hijacked response is invisible to Fastify, and the
 * HTTP server's close would wait for it for ever (issue 11: SIGTERM with watch streams open did not exit in 20 s).
 */
export class VmWatchStreams {
  private readonly open = new Set<ServerResponse>();
  private closing = false;

  /** Whether shutdown began: no stream starts any more. */
  get closed(): boolean {
    return this.closing;
  }

  /** Tracks a stream until its response closes; a stream added after `closeAll()` ends at once. */
  add(raw: ServerResponse): void {
    if (this.closing) {
      endStream(raw);
      return;
    }
    this.open.add(raw);
    raw.once('close', () => this.open.delete(raw));
  }

  /**
   * Ends every stream as a complete response (the last chunk of the chunked encoding), so that a client sees a
   * proper end rather than a cut connection and can watch again elsewhere; then closes its connection.
   */
  closeAll(): void {
    this.closing = true;
    for (const raw of this.open) {
      endStream(raw);
    }
    this.open.clear();
  }
}

/**
 * Ends a watch response and then its connection: the connection would otherwise stay open as an idle keep-alive
 * connection, which the closing server waits for (Fastify's keepAliveTimeout is 72 s).
 */
function endStream(raw: ServerResponse): void {
  if (raw.writableEnded || raw.destroyed) {
    return;
  }
  const socket = raw.socket;
  raw.end(() => socket?.end());
}

/**
 * Streams the changes of one VM as NDJSON until the client goes away or `streams` closes it at shutdown (orchard.md
 * §1.6): ADDED for the VM as it is when the watch starts (or when it is created later), MODIFIED for each committed
 * write, DELETED on deletion. Subscribing before reading means no change between the read and the subscription is
 * lost; versions at or below the one already sent are skipped.
 */
export async function streamVmWatch(
  name: string,
  raw: ServerResponse,
  bus: VmChangeBus,
  read: () => Promise<Vm | undefined>,
  streams: VmWatchStreams,
): Promise<void> {
  const pending: VmChange[] = [];
  let ready = false;
  let lastVersion = 0;
  let exists = false;

  const send = (message: WatchMessage<Vm>) => {
    // Ended by shutdown while the first read was in progress: a write after end would be an error.
    if (!raw.writableEnded && !raw.destroyed) {
      raw.write(`${JSON.stringify(message)}\n`);
    }
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
  // A response ended by shutdown gets no more changes either.
  raw.on('finish', unsubscribe);

  raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // A watch on a VM that does not exist yet sends nothing for a while; the client should see the 200 at once.
  raw.flushHeaders();
  streams.add(raw);
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
