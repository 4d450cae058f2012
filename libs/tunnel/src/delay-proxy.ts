import { connect, createServer, type Server, type Socket } from 'node:net';
import { configureTunnelSocket } from './socket-options';

/** A running delay proxy (see {@link startDelayProxy}). */
export interface DelayProxy {
  /** The port the proxy listens on. */
  port: number;
  /** The address the proxy listens on. */
  host: string;
  /** Connections currently being proxied (accepted and not yet fully closed). */
  connections(): number;
  /** Destroys every proxied connection, clears every timer and closes the listening socket. */
  close(): Promise<void>;
}

export interface DelayProxyOptions {
  /** Where each accepted connection is forwarded to. */
  target: { host: string; port: number };
  /** One-way delay in milliseconds, applied in each direction (10 gives a 20 ms round trip). */
  delayMs: number;
  /** Listen address; loopback unless told otherwise. */
  host?: string;
}

/**
 * Bytes a direction may hold in its delay queue before it stops reading: above the bandwidth-delay product we care
 * about (1 GB/s × 2 ms, 400 MB/s × 20 ms), so the delay and not the bound limits throughput, yet memory stays bounded.
 */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

interface Pending {
  /** null marks the end of the stream (a FIN to forward). */
  chunk: Buffer | null;
  /** process.hrtime.bigint() value at which the entry may be released. */
  releaseAt: bigint;
}

/**
 * One direction of a proxied connection: every chunk read from `source` is written to `sink` `delayMs` after it
 * arrived. Chunks are pipelined (a queue with release times, not stop-and-wait), so a delay adds latency without
 * capping throughput, the way a long link does. Backpressure: reading stops while `sink` wants a 'drain' or the queue
 * holds more than MAX_QUEUED_BYTES.
 */
class DelayedDirection {
  private readonly queue: Pending[] = [];
  private head = 0;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private sinkBlocked = false;
  private readonly delayNs: bigint;

  constructor(
    private readonly source: Socket,
    private readonly sink: Socket,
    delayMs: number,
  ) {
    this.delayNs = BigInt(Math.round(delayMs * 1e6));
    source.on('data', (chunk: Buffer) => this.enqueue(chunk));
    source.once('end', () => this.enqueue(null));
    sink.on('drain', () => {
      this.sinkBlocked = false;
      this.release();
    });
  }

  /** Drops everything queued and stops the timer (the connection is going away). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  private enqueue(chunk: Buffer | null): void {
    this.queue.push({ chunk, releaseAt: process.hrtime.bigint() + this.delayNs });
    this.queuedBytes += chunk?.length ?? 0;
    this.updateFlow();
    if (this.timer === undefined && !this.sinkBlocked) {
      this.schedule();
    }
  }

  private release(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sink.destroyed) {
      this.stop();
      return;
    }
    const now = process.hrtime.bigint();
    while (!this.sinkBlocked && this.head < this.queue.length && this.queue[this.head].releaseAt <= now) {
      const { chunk } = this.queue[this.head++];
      if (chunk === null) {
        this.sink.end();
        continue;
      }
      this.queuedBytes -= chunk.length;
      if (!this.sink.write(chunk)) {
        this.sinkBlocked = true;
      }
    }
    this.compact();
    this.updateFlow();
    if (!this.sinkBlocked) {
      this.schedule();
    }
  }

  /** Arms the timer for the head of the queue, if any. */
  private schedule(): void {
    if (this.head >= this.queue.length) {
      return;
    }
    // Rounded up and re-checked against hrtime in release(): libuv timers count from a cached, possibly stale loop
    // time and may fire a little early, and an early release would make the emulated link shorter than asked.
    const waitNs = this.queue[this.head].releaseAt - process.hrtime.bigint();
    const waitMs = waitNs <= 0n ? 0 : Math.ceil(Number(waitNs) / 1e6);
    this.timer = setTimeout(() => this.release(), waitMs);
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private updateFlow(): void {
    const pause = this.sinkBlocked || this.queuedBytes > MAX_QUEUED_BYTES;
    if (pause && !this.source.isPaused()) {
      this.source.pause();
    } else if (!pause && this.source.isPaused() && !this.source.destroyed) {
      this.source.resume();
    }
  }
}

/**
 * A TCP proxy that delays every byte by `delayMs` in each direction — user-space link emulation for benchmarks and
 * tests, since `tc qdisc … netem` is not available everywhere (tunnels.md §5). Half-closes are forwarded after the data
 * queued before them; a reset or error on one side resets the other.
 */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const host = options.host ?? '127.0.0.1';
  const pairs = new Set<() => void>();

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    configureTunnelSocket(client);
    const upstream = configureTunnelSocket(
      connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true }),
    );
    const up = new DelayedDirection(client, upstream, options.delayMs);
    const down = new DelayedDirection(upstream, client, options.delayMs);
    let open = 2;
    const destroy = () => {
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    pairs.add(destroy);
    const onClose = (closed: Socket, other: Socket) => () => {
      // A socket that closed before both of its directions finished was reset or failed: reset the other side too,
      // as a real link would (queued data is dropped, as with an RST).
      if (!(closed.readableEnded && closed.writableFinished) && !other.destroyed) {
        up.stop();
        down.stop();
        other.resetAndDestroy();
      }
      if (--open === 0) {
        pairs.delete(destroy);
      }
    };
    // Errors (ECONNRESET, ECONNREFUSED, EPIPE) end in 'close', handled above; without a listener they would throw.
    client.on('error', () => undefined).once('close', onClose(client, upstream));
    upstream.on('error', () => undefined).once('close', onClose(upstream, client));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error(`delay proxy listening on ${host} has no TCP address`);
  }

  return {
    port: address.port,
    host,
    connections: () => pairs.size,
    close: async () => {
      for (const destroy of [...pairs]) {
        destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
