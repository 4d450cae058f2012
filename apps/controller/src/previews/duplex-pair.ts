import { Duplex } from 'node:stream';

/** One end of a duplexPair: what is written to it is read from its peer, with the peer's backpressure. */
class PairEnd extends Duplex {
  peer!: PairEnd;
  /** The callback of a write the peer has not taken yet (its buffer was full). */
  private blocked: (() => void) | undefined;

  override _read(): void {
    const release = this.peer.blocked;
    this.peer.blocked = undefined;
    release?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.push(chunk)) {
      callback();
    } else {
      this.blocked = callback;
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.blocked = undefined;
    if (!this.peer.destroyed) {
      this.peer.destroy(error ?? undefined);
    }
    callback(error);
  }
}

/**
 * Two connected in-memory streams, like the two ends of a socket (Node 22's `stream.duplexPair`, which Node 20 lacks):
 * the preview proxy's HTTP client talks through one, the tunnel to the VM carries the other.
 */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
