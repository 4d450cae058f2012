import { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocket } from 'ws';

/**
 * WebSocket subprotocol of Grove's port-forward endpoints that adds TCP half-close: an empty binary message means "no
 * more data from me" while the other direction goes on, as a TCP FIN does. Without it (Orchard's protocol) the end of
 * either direction closes the whole WebSocket, and a client that sends a request and then shuts down its writing side
 * (`nc -N`, HTTP/1.0 clients) loses the answer.
 */
export const HALF_CLOSE_PROTOCOL = 'grove.half-close.v1';

/** A byte stream over a port-forward WebSocket; with the half-close protocol, ends travel as empty messages. */
class HalfCloseWebSocketStream extends Duplex {
  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: true });
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) {
        this.push(null);
      } else if (!this.push(data)) {
        ws.pause();
      }
    });
    ws.once('close', () => this.destroy());
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
    this.ws.send(Buffer.alloc(0), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(1000);
    }
    callback(error);
  }
}

/**
 * A Duplex of the bytes of a port-forward WebSocket: half-close aware when the WebSocket negotiated
 * HALF_CLOSE_PROTOCOL, else `ws`'s own stream (its end closes the WebSocket).
 */
export function webSocketStream(ws: WebSocket): Duplex {
  return ws.protocol === HALF_CLOSE_PROTOCOL ? new HalfCloseWebSocketStream(ws) : createWebSocketStream(ws);
}
