/**
 * Protocols of Grove's processes: the controller↔worker protocol (package `grove.worker.v1`, versioned from day one
 * and negotiated in Hello/Welcome) with its generated types in `gen/`; and the Tart Guest Agent protocol (external, no
 * package) that the worker and the stand-in `tart` speak over a VM's control.sock, with hand-written types (see tart-agent.ts).
 */
export {
  loadReplicaProtocol,
  loadWorkerProtocol,
  PROTO_DIR,
  REPLICA_PROTO,
  WORKER_PROTO,
  WORKER_PROTOCOL_VERSION,
  SESSION_CAPABILITY_LINK_END_NOTICE,
} from './worker-protocol';
export type { ProtoGrpcType as WorkerProtocol } from './gen/worker';
export type { WorkerMessage, WorkerMessage__Output } from './gen/grove/worker/v1/WorkerMessage';
export type { ControllerMessage, ControllerMessage__Output } from './gen/grove/worker/v1/ControllerMessage';
export type { RelayedResolveIp__Output } from './gen/grove/controller/v1/RelayedResolveIp';
export type { ResolveIpResult, ResolveIpResult__Output } from './gen/grove/worker/v1/ResolveIpResult';
export { loadTartAgentProtocol, TART_AGENT_PROTO } from './tart-agent';
export { hostAgent, type HostAgent, type HostAgentOptions } from './tart-agent-host';
export {
  PtyResizer,
  ptyOfScript,
  resizePty,
  shellCommand,
  shellQuote,
  type SpawnCommand,
  type TerminalSize,
} from './pty';
export type {
  TartAgentClient,
  TartAgentHandlers,
  TartAgentProtocol,
  TartExecCommand,
  TartExecRequest,
  TartExecRequestInput,
  TartExecResponse,
  TartExecResponseInput,
  TartIOChunk,
  TartResolveIPRequest,
  TartResolveIPResponse,
  TartTerminalSize,
} from './tart-agent';
export {
  decodeTunnelFrame,
  encodeTunnelFrame,
  TUNNEL_MAX_DATA_BYTES,
  WORKER_CAPABILITY_TUNNEL_GUEST_AGENT,
  type TunnelFrame,
  type TunnelTargetKind,
} from './tunnel-frames';
export {
  replicaServiceClient,
  replicaServiceDefinition,
  workerServiceClient,
  workerServiceDefinition,
} from './tunnel-frames-grpc';
