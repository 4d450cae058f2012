import { createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { DelayProxy } from '@grove/tunnel';
import type { MirrorDelayProxyOptions } from './delay-proxies';

const HOST = '127.0.0.1';
const SOURCE_CHUNK = 64 * 1024;
const SOURCE_CHUNKS_PER_TURN = 16;

/** The far end of every benchmarked path: the "VM" services, loopback TCP ports. */
export interface TargetPorts {
  /** Echoes every byte back; ends after the client half-closes and the echo is flushed. */
  echo: number;
  /** Discards everything; after the client half-closes, answers the byte count (8 bytes, big-endian) and ends. */
  sink: number;
  /** Sends an endless stream (a repeated 64 KiB buffer) until the client goes away. */
  source: number;
}

export interface Targets extends TargetPorts {
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('target server has no TCP address');
  }
  return address.port;
}

function echo(socket: Socket): void {
  // pipe() gives backpressure (stops reading while the write side is full) and ends after the client's FIN.
  socket.pipe(socket);
}

function sink(socket: Socket): void {
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.once('end', () => {
    const count = Buffer.alloc(8);
    count.writeBigUInt64BE(BigInt(received));
    socket.end(count);
  });
}

function source(payload: Buffer): (socket: Socket) => void {
  return (socket) => {
    const pump = () => {
      // While the reader keeps up, write() keeps returning true; yield to the event loop every 1 MiB so this
      // thread's echo sessions are served next to a bulk transfer (the "RTT under bulk" measurement).
      for (let i = 0; i < SOURCE_CHUNKS_PER_TURN; i++) {
        if (socket.destroyed || !socket.writable) {
          return;
        }
        if (!socket.write(payload)) {
          socket.once('drain', pump);
          return;
        }
      }
      setImmediate(pump);
    };
    // The client only reads; its FIN or reset ends the stream.
    socket.once('end', () => socket.destroy());
    socket.resume();
    pump();
  };
}

/** Starts the three target services in this thread (see {@link startTargets} for the benchmark's variant). */
export async function serveTargets(): Promise<Targets> {
  const sockets = new Set<Socket>();
  const serve = (handler: (socket: Socket) => void) =>
    createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      socket.setNoDelay(true);
      // Clients reset or vanish mid-stream (a benchmark destroys its source session once it has read enough).
      socket.on('error', () => undefined).once('close', () => sockets.delete(socket));
      handler(socket);
    });
  const payload = Buffer.alloc(SOURCE_CHUNK, 0x5a);
  const servers = [serve(echo), serve(sink), serve(source(payload))];
  const [echoPort, sinkPort, sourcePort] = await Promise.all(servers.map(listen));
  return {
    echo: echoPort,
    sink: sinkPort,
    source: sourcePort,
    close: async () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

/** What a thread started by {@link inThread} posts back: the started service's data fields, or why it failed. */
type ThreadMessage = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/**
 * Runs `module[exportName](arg)` — an async start function whose result has `close()` — in a worker thread, so the
 * service gets its own event loop and CPU: sharing the driver's loop would make the driver and, say, the target sink
 * compete for one core and halve what raw TCP can do (tunnels.md §4.2 ran targets as a separate process).
 */
async function inThread<T extends object>(
  modulePath: string,
  exportName: string,
  arg: unknown,
): Promise<T & { close(): Promise<void> }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    require(workerData.modulePath)[workerData.exportName](workerData.arg).then(
      (service) => {
        const value = {};
        for (const [key, field] of Object.entries(service)) {
          if (typeof field !== 'function') value[key] = field;
        }
        parentPort.postMessage({ ok: true, value });
        parentPort.once('message', () => service.close().then(() => parentPort.close()));
      },
      (err) => parentPort.postMessage({ ok: false, error: String(err && err.stack ? err.stack : err) }),
    );
  `;
  const worker = new Worker(code, { eval: true, workerData: { modulePath, exportName, arg } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const message = await new Promise<ThreadMessage>((resolve, reject) => {
    worker.once('message', resolve).once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${exportName} thread exited with code ${code} before starting`)));
  });
  if (!message.ok) {
    await worker.terminate();
    throw new Error(`${exportName} failed in its thread: ${message.error}`);
  }
  return {
    ...(message.value as T),
    close: async () => {
      worker.postMessage('close');
      await exited;
    },
  };
}

/** Starts the echo, sink and source services on loopback ports, in a worker thread of their own. */
export async function startTargets(): Promise<Targets> {
  return inThread<TargetPorts>(__filename, 'serveTargets', undefined);
}

/**
 * Starts `startDelayProxy` from `@grove/tunnel` in a worker thread, so its release timers do not wait behind the
 * driver's work (and the driver's timings are not disturbed by the proxy's). Paths use it on the hop that stands for
 * the worker↔controller link.
 */
export async function startDelayProxyThread(options: {
  target: { host: string; port: number };
  delayMs: number;
  /** Listen address; 127.0.0.1 unless told otherwise. */
  host?: string;
}): Promise<Pick<DelayProxy, 'port' | 'host' | 'close'>> {
  return inThread<Pick<DelayProxy, 'port' | 'host'>>(require.resolve('./delay-proxies'), 'startDelayProxy', options);
}

/**
 * `startMirrorDelayProxy` (a delay proxy forwarding to the same port on another address) in a worker thread of its own
 * (see {@link startDelayProxyThread}).
 */
export async function startMirrorDelayProxyThread(
  options: MirrorDelayProxyOptions,
): Promise<Pick<DelayProxy, 'port' | 'host' | 'close'>> {
  return inThread<Pick<DelayProxy, 'port' | 'host'>>(
    require.resolve('./delay-proxies'),
    'startMirrorDelayProxy',
    options,
  );
}
