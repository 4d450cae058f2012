export { configureTunnelSocket, TCP_KEEPALIVE_MS } from './socket-options';
