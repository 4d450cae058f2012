export * from './client.errors';
export * from './grove-client';
export { CONTROLLER_SERVER_NAME, DEFAULT_TIMEOUT_MS } from './http-transport';
export * from './ndjson';
export type { PortForwardOptions, PortForwardStream } from './port-forward';
export * from './peer-certificate';
export { closeWebSocket, HALF_CLOSE_PROTOCOL, WEBSOCKET_CLOSE_GRACE_MS, webSocketStream } from './websocket-stream';
export {
  linkOpenHeader,
  RAW_TUNNEL_PROTOCOL,
  readLinkOpenHeader,
  readTunnelStatus,
  TUNNEL_OPENED,
  tunnelRefusal,
  TunnelRefusedError,
  TunnelStatusReader,
  readUpgradeAnswer,
  sendUpgradeRequest,
  WORKER_LINK_PROTOCOL,
  type TunnelStatus,
} from './raw-tunnel';
