import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { useLargeReads } from './large-reads';
import type { TunnelOutcome } from './tunnel-endpoint';

/** One side of a splice: a byte stream and how it is ended when the session fails. */
export interface SpliceSide {
  stream: Duplex;
  /**
   * Ends the stream because the session failed (default: a TCP reset for plain sockets, so that the peer sees a
   * failure rather than a clean end, else destroy). A WebSocket closes with the reason instead.
   */
  abort?: (message: string) => void;
  /** What to report when this side fails without an error of its own (closed before it ended). */
  lostMessage: string;
  /**
   * Whether the stream can end its writable side and keep reading (TCP, or a WebSocket with the half-close protocol);
   * when it cannot, the end of the other side's data ends the session.
   */
  halfClose?: boolean;
  /**
   * Asked when this side's data ends, before the end is passed on: false makes it a failure (`lostMessage`). For a
   * hop whose peer may die with a FIN that looks like a clean end (a killed process's sockets close that way).
   */
  confirmEnd?: () => Promise<boolean>;
  /**
   * This side is read (its data and its end) only once this resolves: a pipelined upgrade whose answer is still being
   * read from the stream. A rejection is left to the stream, which then fails or closes; writing to it starts at once.
   */
  readAfter?: Promise<unknown>;
  /** Called right before this side is ended because the other side's data ended (not when the session fails). */
  beforeEnd?: () => void;
}

/**
 * Moves bytes between two streams, both ways, until both directions have ended or either side failed (docs/tunnels.md
 * "Raw byte streams"). Nothing is framed or copied: each chunk read from one side is written to the other, and a side
 * is paused while the other is not taking more (`write() === false` until 'drain'), so each direction holds at most a
 * socket buffer or two of memory whatever the speeds. Plain TCP sockets read into reused large buffers
 * (large-reads.ts). An end (FIN) reaches the other side as an end; a failure ends the other side with a reset or the
 * side's `abort`. `done` settles once, with the bytes moved each way: `bytesSent` is what went from `a` to `b`.
 */
export class SocketSplice {
  readonly done: Promise<TunnelOutcome>;
  private resolveDone!: (outcome: TunnelOutcome) => void;
  private finished = false;
  private aToB = 0;
  private bToA = 0;
  /** Directions whose source ended and whose destination has written everything (a→b, b→a). */
  private readonly ended = { ab: false, ba: false };
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly a: SpliceSide,
    private readonly b: SpliceSide,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.direction(a, b, 'ab');
    this.direction(b, a, 'ba');
  }

  /** Bytes moved from `a` to `b` so far. */
  get bytesSent(): number {
    return this.aToB;
  }

  /** Bytes moved from `b` to `a` so far. */
  get bytesReceived(): number {
    return this.bToA;
  }

  /** Ends the session with a failure: both sides are aborted with `message`. */
  abort(message: string): void {
    this.fail(undefined, message);
  }

  private direction(from: SpliceSide, to: SpliceSide, key: 'ab' | 'ba'): void {
    const source = from.stream;
    const sink = to.stream;
    const count = key === 'ab' ? (n: number) => (this.aToB += n) : (n: number) => (this.bToA += n);
    const resume = () => source.resume();
    const deliver = (chunk: Buffer, release: () => void): boolean => {
      count(chunk.length);
      if (sink.destroyed || this.finished) {
        release();
        return false;
      }
      const ok = sink.write(chunk, release);
      if (!ok) {
        sink.once('drain', resume);
      }
      return ok;
    };
    const onData = (chunk: Buffer) => {
      if (!deliver(chunk, () => undefined)) {
        source.pause();
      }
    };
    const onEnd = () => {
      if (this.finished) {
        return;
      }
      if (from.confirmEnd) {
        void from.confirmEnd().then(
          (alive) => (alive ? passEnd() : this.fail(from, from.lostMessage)),
          () => this.fail(from, from.lostMessage),
        );
        return;
      }
      passEnd();
    };
    const passEnd = () => {
      if (this.finished) {
        return;
      }
      to.beforeEnd?.();
      sink.end();
      if (from.halfClose === false || to.halfClose === false) {
        // A side that cannot half-close (a WebSocket without the half-close protocol): the end of either direction
        // is the end of the session.
        sink.once('finish', () => {
          this.ended.ab = this.ended.ba = true;
          this.complete();
        });
        return;
      }
      sink.once('finish', () => {
        this.ended[key] = true;
        this.complete();
      });
    };
    const onError = (err: Error) => this.fail(from, err.message || from.lostMessage);
    // A stream that closes before its data ended, or while the other side still had bytes for it (a peer that went
    // away after its FIN), broke the session; one that closes after both, or a side that cannot half-close after its
    // end, is done.
    const into = key === 'ab' ? 'ba' : 'ab';
    const onClose = () => {
      if (this.finished) {
        return;
      }
      if (!source.readableEnded || (!this.ended[into] && from.halfClose !== false)) {
        this.fail(from, from.lostMessage);
      } else {
        this.complete();
      }
    };
    const read = () => {
      if (this.finished) {
        return;
      }
      if (!(source instanceof Socket && useLargeReads(source, deliver))) {
        source.on('data', onData);
      }
      if (source.readableEnded) {
        // Its end came while nobody read it yet (a client that half-closed before its session was set up).
        onEnd();
        return;
      }
      source.on('end', onEnd);
      source.resume();
    };
    if (from.readAfter) {
      from.readAfter.then(read, () => undefined);
    } else {
      read();
    }
    source.on('error', onError);
    source.on('close', onClose);
    this.cleanups.push(() => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      sink.off('drain', resume);
      // Late errors of a stream being torn down are not this session's business any more.
      source.on('error', () => undefined);
    });
  }

  /** Both directions ended normally: closes both streams. */
  private complete(): void {
    if (this.finished || !this.ended.ab || !this.ended.ba) {
      return;
    }
    this.settle({ result: 'closed', bytesSent: this.aToB, bytesReceived: this.bToA });
    this.a.stream.destroy();
    this.b.stream.destroy();
  }

  private fail(by: SpliceSide | undefined, message: string): void {
    if (this.finished) {
      return;
    }
    this.settle({
      result: 'error',
      error: message,
      ...(by ? { failedBy: by === this.a ? 'local' : 'link' } : {}),
      bytesSent: this.aToB,
      bytesReceived: this.bToA,
    });
    for (const side of [this.a, this.b]) {
      if (side !== by || !side.stream.destroyed) {
        abortSide(side, message);
      }
    }
  }

  private settle(outcome: TunnelOutcome): void {
    this.finished = true;
    for (const cleanup of this.cleanups) {
      cleanup();
    }
    this.resolveDone(outcome);
  }
}

/** Ends a side after a failure: its own abort, else a reset. */
function abortSide(side: SpliceSide, message: string): void {
  if (side.abort) {
    side.abort(message);
    return;
  }
  resetStream(side.stream);
}

/**
 * Ends a stream because its session failed: a TCP reset (RST) for a plain TCP socket, so that the peer sees a failure
 * rather than the end of the data; otherwise (TLS, unix sockets, other streams, which have no reset) destroyed.
 */
export function resetStream(stream: Duplex): void {
  // A socket this side has already ended (FIN sent) cannot be reset (libuv refuses, and the socket would stay open): it
  // is closed, which the kernel turns into a reset when the peer's data is still unread.
  if (
    stream instanceof Socket &&
    !stream.destroyed &&
    !stream.writableEnded &&
    !(stream as Socket & { encrypted?: boolean }).encrypted
  ) {
    try {
      stream.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle (a unix socket): destroyed instead.
    }
  }
  stream.destroy();
}
