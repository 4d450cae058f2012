import { ServerResponse, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

const UPGRADE = Symbol('grove.websocket-upgrade');

/** The socket of a WebSocket handshake request, until a route handler upgrades it or answers with an error. */
/**
 * An upgrade's socket. The bytes the client sent right behind its request (which Node hands over apart, as `head`) are
 * back at the front of the socket's readable side, so that whoever takes the socket later, after waiting for
 * something, reads them first and an early end of the client's data is not emitted before they are read.
 */
export interface PendingUpgrade {
  socket: Duplex;
}

type UpgradeRequest = IncomingMessage & { [UPGRADE]?: PendingUpgrade };

/** The `head` to give `WebSocketServer.handleUpgrade` for a PendingUpgrade: its bytes are in the socket already. */
export const NO_HEAD = Buffer.alloc(0);

/**
 * Takes an upgrade before the routing (returning true), or leaves it (false). One that was taken may still hand the
 * request to the routing later with `route()`, as long as it wrote nothing to the socket.
 */
export type UpgradeInterceptor = (req: IncomingMessage, socket: Duplex, route: () => void) => boolean;

/**
 * Sends WebSocket handshakes through the ordinary HTTP routing, so that WebSocket endpoints get the same
 * authentication, validation and error answers (`400 {"message": …}` …) as every other endpoint; a handler takes
 * the socket with `pendingUpgrade()` once it has decided to accept. Unknown paths get the router's 404. `intercept`
 * may take an upgrade first (returning true); `pendingUpgrade()` works for the requests it takes too.
 */
export function routeWebSocketUpgrades(
  server: Server,
  routing: (req: IncomingMessage, res: ServerResponse) => void,
  intercept?: UpgradeInterceptor,
): void {
  server.on('upgrade', (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
    // Kept apart, they would be lost to a client that half-closes right behind them: with nothing left in the socket,
    // its end is emitted while the handler still waits (for a worker, a VM), and nothing can be put back after that.
    if (head.length > 0) {
      socket.unshift(head);
    }
    req[UPGRADE] = { socket };
    const route = () => {
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      // An error answer ends the exchange: nothing else may follow on a refused handshake.
      res.once('finish', () => socket.end());
      socket.once('error', () => socket.destroy());
      try {
        routing(req, res);
      } catch {
        socket.destroy();
      }
    };
    // An upgrade that needs none of the routing (a worker's raw link, a port-forward whose account is known) is
    // answered before it.
    if (!intercept?.(req, socket, route)) {
      route();
    }
  });
}

/** The handshake's socket, or undefined when the request is a plain HTTP request without `Upgrade: websocket`. */
export function pendingUpgrade(req: IncomingMessage): PendingUpgrade | undefined {
  return (req as UpgradeRequest)[UPGRADE];
}

/** A close frame's reason is at most 123 bytes of UTF-8: longer texts are cut with an ellipsis. */
export function clipCloseReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) {
    out = out.slice(0, -2) + '…';
  }
  return out;
}

/** Whether a request is a well-formed WebSocket handshake (RFC 6455 §4.2.1). */
export function isWebSocketHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    (req.headers['sec-websocket-version'] === '13' || req.headers['sec-websocket-version'] === '8')
  );
}

/**
 * Pings a client every `intervalMs` and cuts off one that did not answer the previous ping (idle proxies drop silent
 * sockets, and a vanished client would otherwise hold its session). Returns the function that stops it.
 */
export function keepWebSocketAlive(ws: WebSocket, intervalMs: number): () => void {
  let alive = true;
  ws.on('pong', () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) {
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Answers an upgrade request with an HTTP error and ends the connection: nothing may follow a refused handshake. */
export function answerUpgradeError(
  socket: Duplex,
  status: number,
  body: object,
  headers: Record<string, string> = {},
): void {
  const json = JSON.stringify(body);
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\n${extra.join('')}Connection: close\r\n\r\n${json}`,
  );
}
