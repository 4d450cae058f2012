export { configureTunnelSocket, TCP_KEEPALIVE_MS } from './socket-options';
export {
  INITIAL_TUNNEL_WINDOW,
  MAX_TUNNEL_WINDOW,
  TunnelEndpoint,
  type FrameLink,
  type TunnelEndpointOptions,
  type TunnelOutcome,
} from './tunnel-endpoint';
export {
  enlargeServerWindows,
  GRPC_CLIENT_FLOW_CONTROL,
  GRPC_CONNECTION_WINDOW,
  GRPC_STREAM_WINDOW,
} from './grpc-flow-control';
export { startDelayProxy, type DelayProxy } from './delay-proxy';
export { useLargeReads } from './large-reads';
export { resetStream, SocketSplice, type SpliceSide } from './socket-splice';
