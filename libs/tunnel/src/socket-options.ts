import type { Socket } from 'node:net';

/** Keep-alive probe delay: below the idle timeouts of common load balancers (AWS NLB 350 s, nginx 60 s). */
export const TCP_KEEPALIVE_MS = 30_000;

/**
 * Options every tunnel socket gets (ARCHITECTURE.md decision 3): no Nagle delay, so interactive sessions (ssh, 1-byte
 * ping-pong) are not held back 40 ms, and TCP keep-alive, so half-dead peers are noticed.
 */
export function configureTunnelSocket(socket: Socket): Socket {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
  return socket;
}
