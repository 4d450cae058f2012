import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * WebSocket subprotocol of Grove's port-forward endpoints that adds TCP half-close: an empty binary message means "no
 * more data from me" while the other direction goes on, as a TCP FIN does. Without it (Orchard's protocol) the end of
 * either direction closes the whole WebSocket, and a client that sends a request and then shuts down its writing side
 * (`nc -N`, HTTP/1.0 clients) loses the answer.
 */
export const HALF_CLOSE_PROTOCOL = 'grove.half-close.v1';

// WebSocket ready states (RFC 6455 / the WHATWG API), as numbers so that this module does not load `ws` itself.
const OPEN = 1;
const CLOSED = 3;

/** How long a closing WebSocket waits for the peer's close frame before the socket is cut. */
export const WEBSOCKET_CLOSE_GRACE_MS = 1000;

/**
 * Closes a WebSocket and makes sure its socket goes away: reading resumes (a paused WebSocket never sees the peer's
 * close frame, and its socket would sit in CLOSE-WAIT until `ws`'s 30 s timeout), and a peer that does not answer
 * within the grace period is cut off.
 */
export function closeWebSocket(ws: WebSocket, code = 1000, reason?: string): void {
  if (ws.readyState === CLOSED) {
    return;
  }
  ws.resume();
  if (ws.readyState === OPEN) {
    ws.close(code, reason);
  }
  const timer = setTimeout(() => ws.terminate(), WEBSOCKET_CLOSE_GRACE_MS);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}

/** Close codes that end a port-forward WebSocket normally: 1000, and 1005 (a close frame without a code). */
function isCleanClose(code: number): boolean {
  return code === 1000 || code === 1005;
}

/** A close reason fits in 123 bytes of UTF-8 (RFC 6455 §5.5): longer texts are cut with an ellipsis. */
function clipReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) {
    out = out.slice(0, -2) + '…';
  }
  return out;
}

/**
 * A port-forward WebSocket that did not end normally: closed with another code than 1000 (the controller says 1011
 * and why when the worker or the target failed; 1006 is a connection lost without a close frame), or closed before
 * the end of the data with the half-close protocol. The reader must not take it for an end of data.
 */
export class WebSocketClosedError extends Error {
  constructor(
    /** The close code received (1006: no close frame, the connection was lost). */
    readonly code: number,
    /** The close reason received, possibly empty. */
    readonly reason: string,
  ) {
    super(
      reason !== ''
        ? reason
        : code === 1006
          ? 'the WebSocket connection was lost'
          : isCleanClose(code)
            ? 'the WebSocket closed before the end of the data'
            : `the WebSocket closed with code ${code}`,
    );
    this.name = 'WebSocketClosedError';
  }
}

/**
 * The bytes of a port-forward WebSocket as a Duplex. With the half-close protocol each direction ends on its own (an
 * empty message); without it the end of either direction closes the WebSocket. Only a normal close (1000, 1005) ends
 * the readable side; any other close, and with the half-close protocol a close before the peer's empty message,
 * destroys the stream with a WebSocketClosedError, so that a relay resets its TCP connection instead of passing on a
 * clean end of data that never happened (issue 11). Destroying the stream with an error closes the WebSocket with
 * 1011 and the error's message, so that the peer too sees the failure. Messages that arrive after the stream ended or
 * was destroyed are dropped, and reading goes on until the close handshake completes.
 */
class WebSocketByteStream extends Duplex {
  /** With the half-close protocol: the peer's empty message arrived (its direction ended normally). */
  private peerEnded = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly halfClose: boolean,
  ) {
    super({ allowHalfOpen: halfClose });
    ws.on('message', (data: Buffer) => {
      if (this.destroyed || this.peerEnded) {
        return;
      }
      if (halfClose && data.length === 0) {
        this.peerEnded = true;
        this.push(null);
      } else if (!this.push(data)) {
        ws.pause();
      }
    });
    ws.once('close', (code: number, reason: Buffer) => {
      if (this.destroyed) {
        return;
      }
      if (!isCleanClose(code) || (halfClose && !this.peerEnded)) {
        this.destroy(new WebSocketClosedError(code, reason.toString('utf8')));
      } else if (!halfClose) {
        this.push(null);
      } else if (this.readableEnded) {
        // Both directions ended with empty messages before the close: nothing is left to read.
        this.destroy();
      }
      // Otherwise what arrived before the peer's empty message is still being read: 'end' follows it, and the stream
      // closes once its own direction has ended too.
    });
    ws.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    if (this.ws.isPaused) {
      this.ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.halfClose) {
      this.send(Buffer.alloc(0), callback);
      return;
    }
    closeWebSocket(this.ws);
    callback();
  }

  /**
   * Sends a message. A send that fails because the WebSocket is closing is not the stream's error: the close tells
   * how the session ended (an abnormal close destroys the stream with its reason; after a normal one, what is still
   * written is dropped, as when the peer closed first), not "WebSocket is not open".
   */
  private send(data: Buffer, callback: (error?: Error | null) => void): void {
    this.ws.send(data, (err?: Error) => {
      if (!err || this.ws.readyState === OPEN) {
        callback(err);
      } else if (this.ws.readyState === CLOSED) {
        callback();
      } else {
        this.ws.once('close', () => callback());
      }
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // An error is no normal end: the peer must not take it for one either (a closed WebSocket stays as it is).
    if (error) {
      closeWebSocket(this.ws, 1011, clipReason(error.message || 'the stream failed'));
    } else {
      closeWebSocket(this.ws);
    }
    callback(error);
  }
}

/** A Duplex of the bytes of a port-forward WebSocket, half-close aware when it negotiated HALF_CLOSE_PROTOCOL. */
export function webSocketStream(ws: WebSocket): Duplex {
  return new WebSocketByteStream(ws, ws.protocol === HALF_CLOSE_PROTOCOL);
}
