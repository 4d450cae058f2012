import type { WebSocket } from 'ws';

/** How a WebSocket closed. */
export interface Closed {
  code: number;
  reason: string;
}

/**
 * Sends `data` through a port-forward WebSocket to an echo service and resolves with what came back; rejects when
 * the WebSocket closes first. Resumes the (paused) WebSocket.
 */
export function echoThrough(ws: WebSocket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onMessage = (message: Buffer) => {
      chunks.push(message);
      received += message.length;
      if (received >= data.length) {
        ws.off('message', onMessage);
        resolve(Buffer.concat(chunks));
      }
    };
    ws.on('message', onMessage);
    ws.once('error', reject);
    ws.once('close', (code, reason) => {
      if (received < data.length) {
        reject(new Error(`closed after ${received} bytes: ${code} ${reason.toString()}`));
      }
    });
    ws.resume();
    for (let offset = 0; offset < data.length; offset += 64 * 1024) {
      ws.send(data.subarray(offset, offset + 64 * 1024));
    }
  });
}

/**
 * Resolves with the close code and reason of a WebSocket that is still open (listen before the close can happen).
 * Does not resume it.
 */
export function closeOf(ws: WebSocket): Promise<Closed> {
  if (ws.readyState === ws.CLOSED) {
    return Promise.reject(new Error('the WebSocket closed before anyone listened for its close'));
  }
  return new Promise((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }));
  });
}

/** Closes the WebSocket (cutting it if the closing handshake takes over 2 s) and waits until it is closed. */
export async function closeAndWait(ws: WebSocket): Promise<void> {
  if (ws.readyState === ws.CLOSED) {
    return;
  }
  const closed = closeOf(ws);
  const timer = setTimeout(() => ws.terminate(), 2_000);
  ws.resume();
  ws.close();
  await closed;
  clearTimeout(timer);
}

/** `promise`, or a rejection naming `what` when it takes longer than `ms`. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
