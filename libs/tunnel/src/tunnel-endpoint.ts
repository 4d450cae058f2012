import type { Duplex } from 'node:stream';
import { TUNNEL_MAX_DATA_BYTES, type TunnelFrame } from '@grove/proto';
import { resetStream } from './socket-splice';

/** Bytes each side may send before the first `window` frame: the receive window every tunnel starts with. */
export const INITIAL_TUNNEL_WINDOW = 256 * 1024;
/**
 * Largest receive window auto-tuning grows to: enough for 200 MB/s at a 20 ms round trip, and no larger than the
 * HTTP/2 stream window underneath (GRPC_STREAM_WINDOW), which would cap it anyway.
 */
export const MAX_TUNNEL_WINDOW = 4 * 1024 * 1024;
/** Queued chunks smaller than this are merged into one data frame (see nextData); larger ones travel as they are. */
const COALESCE_BELOW_BYTES = 16 * 1024;

/**
 * The object-mode stream of frames a tunnel rides on: a grpc-js call on either end (client or server duplex), or
 * an object-mode Duplex in tests. `cancel` (grpc-js calls) is used when the link itself broke.
 */
export interface FrameLink {
  write(frame: TunnelFrame): boolean;
  end(): unknown;
  destroy(): unknown;
  resume(): unknown;
  cancel?: () => void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
}

/** How a tunnel session ended, for audit events and logs. */
export interface TunnelOutcome {
  /** `closed`: both directions ended normally; `error`: a side failed (see `error`). */
  result: 'closed' | 'error';
  /** What failed, in words for the user; set when `result` is `error`. */
  error?: string;
  /** Which side failed first: this endpoint's local stream, the peer (its error frame) or the link between them. */
  failedBy?: 'local' | 'peer' | 'link';
  /** Bytes read from the local stream and sent to the peer. */
  bytesSent: number;
  /** Bytes received from the peer and written to the local stream. */
  bytesReceived: number;
}

export interface TunnelEndpointOptions {
  /** The frame stream to the peer. It must already have carried the `open` frame, if this side sends it. */
  link: FrameLink;
  /** The local byte stream: a TCP socket (with `allowHalfOpen`) or a WebSocket stream. */
  local: Duplex;
  /**
   * Whether the local stream can end its writable side and keep reading (TCP). A WebSocket cannot: when it ends,
   * the whole session ends.
   */
  halfClose: boolean;
  /** Current smallest round trip to the peer in ms, for window auto-tuning; undefined while unknown. */
  minRttMs?: () => number | undefined;
  /** Largest receive window; default MAX_TUNNEL_WINDOW. */
  maxWindow?: number;
  /** Ends the local stream because of an error (default: destroy it). A WebSocket closes with a reason instead. */
  abortLocal?: (message: string) => void;
  /** What to report when the link ends or breaks mid-session, e.g. `the connection to the worker was lost`. */
  linkLostMessage?: string;
  /** Frames other than data/window/closeWrite/error (e.g. `opened`) go here. */
  onFrame?: (frame: TunnelFrame) => void;
}

/**
 * One end of a tunnel session: moves bytes between a local stream and the frame link, both ways, with the
 * protocol's flow control. Every direction is bounded: this side never sends more than the peer granted, and grants
 * only what it has handed to its local stream, so a reader that stops (a stalled user, a VM that does not read)
 * holds at most one window of memory on each side and never slows other sessions of the same connection. The
 * receive window starts at 256 KiB and doubles, up to `maxWindow`, whenever a full window passes in less than two
 * round trips (the sender was waiting for credit), so it follows the bandwidth-delay product instead of a fixed guess.
 */
export class TunnelEndpoint {
  /** Settles once the session is over on this side; never rejects. */
  readonly done: Promise<TunnelOutcome>;

  private readonly link: FrameLink;
  private readonly local: Duplex;
  private readonly options: TunnelEndpointOptions;
  private resolveDone!: (outcome: TunnelOutcome) => void;

  // Sending (local → peer).
  private sendCredit = INITIAL_TUNNEL_WINDOW;
  private readonly queue: Buffer[] = [];
  private linkBlocked = false;
  private localEnded = false;
  private closeWriteSent = false;
  private bytesSent = 0;

  // Receiving (peer → local).
  private window = INITIAL_TUNNEL_WINDOW;
  private granted = INITIAL_TUNNEL_WINDOW;
  private received = 0;
  private delivered = 0;
  private ungranted = 0;
  private lastGrantAt = process.hrtime.bigint();
  private peerEnded = false;
  private localFinished = false;

  private finished = false;

  constructor(options: TunnelEndpointOptions) {
    this.options = options;
    this.link = options.link;
    this.local = options.local;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));

    this.local.on('data', (chunk: Buffer) => this.onLocalData(chunk));
    const onLocalEnd = () => {
      this.localEnded = true;
      this.flush();
    };
    if (this.local.readableEnded) {
      // Its end came before the session was set up (a client that half-closed right behind its request).
      process.nextTick(onLocalEnd);
    } else {
      this.local.once('end', onLocalEnd);
    }
    this.local.once('finish', () => {
      this.localFinished = true;
      this.maybeFinish();
    });
    this.local.on('error', (err: Error) => this.fail('local', err.message));
    this.local.once('close', () => {
      if (!this.localEnded || !this.localFinished) {
        this.fail('local', 'the connection closed');
      }
    });

    this.link.on('data', (frame: TunnelFrame | undefined) => frame && this.onFrame(frame));
    this.link.on('drain', () => {
      this.linkBlocked = false;
      this.flush();
    });
    this.link.on('error', (err: Error & { details?: string }) => this.fail('link', err.details || err.message));
    this.link.once('end', () => this.onLinkEnd());
    this.link.once('close', () => this.onLinkEnd());
    // A server-side grpc-js call reports a vanished client (worker killed, connection cut) this way.
    this.link.once('cancelled', () => this.fail('link', this.linkLost));
    this.link.resume();
    this.local.resume();
  }

  private get linkLost(): string {
    return this.options.linkLostMessage ?? 'the tunnel closed before the session ended';
  }

  /** Ends the session from outside (e.g. the controller shuts down), telling both the peer and the local side why. */
  abort(message: string): void {
    this.fail('local', message, true);
  }

  private onLocalData(chunk: Buffer): void {
    this.queue.push(chunk);
    this.flush();
  }

  /** Sends queued local bytes as far as credit and the link allow; pauses or resumes the local stream to match. */
  private flush(): void {
    if (this.finished) {
      return;
    }
    while (this.queue.length > 0 && this.sendCredit > 0 && !this.linkBlocked) {
      const data = this.nextData(Math.min(this.sendCredit, TUNNEL_MAX_DATA_BYTES));
      this.sendCredit -= data.length;
      this.bytesSent += data.length;
      if (!this.link.write({ kind: 'data', data } satisfies TunnelFrame)) {
        this.linkBlocked = true;
      }
    }
    if (this.queue.length > 0 || this.linkBlocked) {
      this.local.pause();
      return;
    }
    if (this.localEnded) {
      if (!this.closeWriteSent) {
        this.closeWriteSent = true;
        this.link.write({ kind: 'closeWrite' } satisfies TunnelFrame);
        if (!this.options.halfClose) {
          // A WebSocket that ended cannot take more data: the session is over.
          this.peerEnded = true;
          this.localFinished = true;
        }
        this.maybeFinish();
      }
      return;
    }
    this.local.resume();
  }

  /**
   * Takes at most `limit` queued bytes for one data frame. Small chunks queued behind each other (the link was blocked
   * or credit ran out: the session is under load) leave together in one frame, since every frame costs a gRPC message
   * and an HTTP/2 frame on each hop (issue 17); a chunk that arrives alone (interactive traffic) leaves at once, as it
   * came. Large chunks are never merged: that would copy them for no saving.
   */
  private nextData(limit: number): Buffer {
    const head = this.queue[0];
    if (head.length >= limit) {
      this.queue[0] = head.subarray(limit);
      if (this.queue[0].length === 0) {
        this.queue.shift();
      }
      return head.length === limit ? head : head.subarray(0, limit);
    }
    this.queue.shift();
    if (head.length >= COALESCE_BELOW_BYTES) {
      return head;
    }
    let size = head.length;
    let count = 1;
    while (count - 1 < this.queue.length) {
      const next = this.queue[count - 1];
      if (next.length >= COALESCE_BELOW_BYTES || size + next.length > limit) {
        break;
      }
      size += next.length;
      count++;
    }
    if (count === 1) {
      return head;
    }
    return Buffer.concat([head, ...this.queue.splice(0, count - 1)], size);
  }

  private onFrame(frame: TunnelFrame): void {
    if (this.finished) {
      return;
    }
    switch (frame.kind) {
      case 'data':
        this.onPeerData(frame.data);
        return;
      case 'window':
        this.sendCredit += frame.bytes;
        this.flush();
        return;
      case 'closeWrite':
        this.peerEnded = true;
        this.local.end();
        return;
      case 'error':
        this.fail('peer', frame.message);
        return;
      case 'open':
      case 'opened':
        this.options.onFrame?.(frame);
        return;
      case 'execStart':
      case 'stdin':
      case 'resize':
      case 'execStarted':
      case 'stdout':
      case 'stderr':
      case 'exit':
        this.fail('peer', `the peer sent an exec frame (${frame.kind}) on a port-forward session`);
        return;
    }
  }

  private onPeerData(data: Buffer): void {
    this.received += data.length;
    if (this.received > this.granted) {
      this.fail('peer', 'the peer sent more than its flow-control window');
      return;
    }
    if (this.peerEnded) {
      return;
    }
    this.local.write(data, () => this.onDelivered(data.length));
  }

  /** Grants the peer new credit for bytes the local stream took, growing the window when it is the bottleneck. */
  private onDelivered(n: number): void {
    this.delivered += n;
    this.ungranted += n;
    if (this.finished || this.ungranted < this.window / 4) {
      return;
    }
    const now = process.hrtime.bigint();
    const max = this.options.maxWindow ?? MAX_TUNNEL_WINDOW;
    const rtt = this.options.minRttMs?.();
    let grant = this.ungranted;
    // A quarter window delivered in under half a round trip: the whole window lasts less than two round trips, so
    // the sender spends time waiting for credit. Double the window (and grant the difference right away).
    if (rtt !== undefined && this.window < max && Number(now - this.lastGrantAt) / 1e6 < rtt / 2) {
      const grown = Math.min(this.window * 2, max);
      grant += grown - this.window;
      this.window = grown;
    }
    this.lastGrantAt = now;
    this.ungranted = 0;
    this.granted += grant;
    this.link.write({ kind: 'window', bytes: grant } satisfies TunnelFrame);
  }

  private onLinkEnd(): void {
    if (this.finished) {
      return;
    }
    if (this.peerEnded) {
      // The peer finished sending and closed the stream: it wants no more data. Let queued writes reach the local
      // stream, then close it.
      this.closeWriteSent = true;
      this.local.end();
      if (this.localFinished) {
        this.finish();
      } else {
        this.local.once('finish', () => this.finish());
      }
      return;
    }
    this.fail('link', this.linkLost);
  }

  private maybeFinish(): void {
    if (this.closeWriteSent && this.peerEnded && this.localFinished) {
      this.finish();
    }
  }

  private finish(): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.link.end();
    this.local.destroy();
    this.resolveDone({ result: 'closed', bytesSent: this.bytesSent, bytesReceived: this.delivered });
  }

  private fail(by: 'local' | 'peer' | 'link', message: string, tellLocal = by !== 'local'): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.queue.length = 0;
    if (by !== 'link') {
      if (by === 'local') {
        this.link.write({ kind: 'error', message } satisfies TunnelFrame);
      }
      this.link.end();
    } else if (this.link.cancel) {
      this.link.cancel();
    } else {
      this.link.destroy();
    }
    if (!tellLocal) {
      this.local.destroy();
    } else if (this.options.abortLocal) {
      this.options.abortLocal(message);
    } else {
      // A TCP reset, not a FIN: the program on this side must not take a failure for a clean end of data.
      resetStream(this.local);
    }
    this.resolveDone({
      result: 'error',
      error: message,
      failedBy: by,
      bytesSent: this.bytesSent,
      bytesReceived: this.delivered,
    });
  }
}
