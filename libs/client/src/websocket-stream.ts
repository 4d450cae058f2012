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

/**
 * The bytes of a port-forward WebSocket as a Duplex. With the half-close protocol each direction ends on its own (an
 * empty message); without it the end of either direction closes the WebSocket. Messages that arrive after the
 * stream ended or was destroyed are dropped, and reading goes on until the close handshake completes.
 */
class WebSocketByteStream extends Duplex {
  constructor(
    private readonly ws: WebSocket,
    private readonly halfClose: boolean,
  ) {
    super({ allowHalfOpen: halfClose });
    ws.on('message', (data: Buffer) => {
      if (this.destroyed || this.readableEnded) {
        return;
      }
      if (halfClose && data.length === 0) {
        this.push(null);
      } else if (!this.push(data)) {
        ws.pause();
      }
    });
    ws.once('close', () => {
      if (halfClose) {
        // A half-close session ends both ways with empty messages: a close before that is an abrupt end.
        this.destroy();
      } else if (!this.destroyed) {
        this.push(null);
      }
    });
    ws.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    if (this.ws.isPaused) {
      this.ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.ws.send(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.halfClose) {
      this.ws.send(Buffer.alloc(0), callback);
      return;
    }
    closeWebSocket(this.ws);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    closeWebSocket(this.ws);
    callback(error);
  }
}

/** A Duplex of the bytes of a port-forward WebSocket, half-close aware when it negotiated HALF_CLOSE_PROTOCOL. */
export function webSocketStream(ws: WebSocket): Duplex {
  return new WebSocketByteStream(ws, ws.protocol === HALF_CLOSE_PROTOCOL);
}
