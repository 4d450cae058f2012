import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

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
 * the socket with `pendingUpgrade()` once it has decided to accept. Unknown paths get the router's 404.
 */
export function routeWebSocketUpgrades(
  server: Server,
  routing: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  server.on('upgrade', (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
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
