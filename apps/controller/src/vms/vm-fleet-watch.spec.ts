import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';
import type { VmChange, VmChangeBus } from './vm-change-bus';
import { streamFleetWatch } from './vm-fleet-watch';
import { VmWatchStreams } from './vm-watch';

/** The change bus as the fleet watch uses it, with a way to publish a change. */
class FakeBus {
  private readonly listeners = new Set<(change: VmChange) => void>();

  subscribeAll(listener: (change: VmChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(change: VmChange): void {
    for (const listener of this.listeners) {
      listener(change);
    }
  }
}

const vm = (name: string, version: number, padding = ''): Vm =>
  ({ name, uid: `${name}-uid`, version, padding }) as unknown as Vm;

/** The list's chunks as the service hands them over. */
async function* chunksOf(chunks: string[]): AsyncIterable<string> {
  for (const chunk of chunks) {
    await Promise.resolve();
    yield chunk;
  }
}

/** A chunk of the list as the repository gives it: documents joined with commas. */
const chunkOf = (vms: Vm[]) => vms.map((v) => JSON.stringify(v)).join(',');

/**
 * The fleet watch's stream against a real HTTP client (vm-fleet-watch.int-spec.ts runs it through the API with
 * Postgres): what it holds for a client that reads slowly or not at all.
 */
describe('fleet watch stream', () => {
  let server: Server;
  let port: number;
  let handler: (res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((_req, res) => handler(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const open = () =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' });
      req.once('error', reject);
      req.once('response', resolve);
      req.end();
    });

  it('waits for the client to take each chunk of a long list without piling up listeners', async () => {
    const bus = new FakeBus();
    // 30 chunks each larger than the response's buffer: the stream waits for the client after every one.
    const chunks = Array.from({ length: 30 }, (_, c) =>
      chunkOf(Array.from({ length: 4 }, (_, i) => vm(`vm-${c}-${i}`, 1, 'x'.repeat(8 * 1024)))),
    );
    let raw: ServerResponse | undefined;
    const done = new Promise<void>((resolve, reject) => {
      handler = (res) => {
        streamFleetWatch(
          () => (raw = res),
          bus as unknown as VmChangeBus,
          () => Promise.resolve(chunksOf(chunks)),
          new VmWatchStreams(),
        ).then(resolve, reject);
      };
    });
    const res = await open();
    let lines = 0;
    res.on('data', (data: Buffer) => (lines += data.toString().split('\n').length - 1));
    await done;
    await waitFor('every VM', () => lines >= 120);
    await new Promise((resolve) => setImmediate(resolve));
    res.destroy();
    // Its own and the stream tracker's (plus Node's): not one per chunk waited for.
    expect(raw!.listenerCount('close')).toBeLessThan(5);
  });

  it('cuts a client that stopped reading in the middle of the list once too many changes wait behind it', async () => {
    const bus = new FakeBus();
    let raw: ServerResponse | undefined;
    // Far more than the socket buffers take: the stream waits for the client in the middle of the list.
    const big = Array.from({ length: 20 }, (_, c) => chunkOf([vm(`vm-${c}`, 1, 'x'.repeat(1024 * 1024))]));
    handler = (res) =>
      void streamFleetWatch(
        () => (raw = res),
        bus as unknown as VmChangeBus,
        () => Promise.resolve(chunksOf(big)),
        new VmWatchStreams(),
        { maxPendingChanges: 100 },
      );
    const res = await open();
    res.pause();
    await waitFor('the stream', () => raw !== undefined);
    const closed = new Promise<void>((resolve) => raw!.once('close', resolve));
    for (let version = 2; version < 1000 && !raw!.destroyed; version++) {
      bus.publish({ type: 'MODIFIED', vm: vm('vm-0', version) });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(raw!.destroyed).toBe(true);
    await closed;
    res.destroy();
  });

  it('cuts a client that stopped reading once its backlog of changes passes the limit', async () => {
    const bus = new FakeBus();
    let raw: ServerResponse | undefined;
    handler = (res) =>
      void streamFleetWatch(
        () => (raw = res),
        bus as unknown as VmChangeBus,
        () => Promise.resolve(chunksOf([chunkOf([vm('a', 1)])])),
        new VmWatchStreams(),
        { maxBufferedBytes: 256 * 1024 },
      );
    const res = await open();
    res.pause();
    await waitFor('the stream', () => raw !== undefined);
    const closed = new Promise<void>((resolve) => raw!.once('close', resolve));
    // Up to 64 MB of changes: far more than the socket buffers and the limit hold.
    for (let version = 2; version < 2 + 640 && !raw!.destroyed; version++) {
      bus.publish({ type: 'MODIFIED', vm: vm('a', version, 'y'.repeat(100 * 1024)) });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(raw!.destroyed).toBe(true);
    await closed;
    res.destroy();
  });
});
