import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

const UPGRADE = Symbol('grove.websocket-upgrade');

/** The socket of a WebSocket handshake request, until a route handler upgrades it or answers with an error. */
export interface PendingUpgrade {
  socket: Duplex;
  head: Buffer;
}

type UpgradeRequest = IncomingMessage & { [UPGRADE]?: PendingUpgrade };

/**
 * Sends WebSocket handshakes through the ordinary HTTP routing, so that WebSocket endpoints get the same
 * authentication, validation and error answers (`400 {"message": …}` …) as every other endpoint; a handler takes
 * the socket with `pendingUpgrade()` once it has decided to accept. Unknown paths get the router's 404. `intercept`
 * may take an upgrade first (returning true).
 */
export function routeWebSocketUpgrades(
  server: Server,
  routing: (req: IncomingMessage, res: ServerResponse) => void,
  intercept?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean,
): void {
  server.on('upgrade', (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
    // An upgrade that needs none of the routing (a worker's raw link, authenticated by its session key) is answered
    // before it.
    if (intercept?.(req, socket, head)) {
      return;
    }
    req[UPGRADE] = { socket, head };
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
