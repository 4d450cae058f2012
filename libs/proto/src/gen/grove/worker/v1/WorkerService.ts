// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ControllerMessage as _grove_worker_v1_ControllerMessage, ControllerMessage__Output as _grove_worker_v1_ControllerMessage__Output } from '../../../grove/worker/v1/ControllerMessage';
import type { TunnelFrame as _grove_worker_v1_TunnelFrame, TunnelFrame__Output as _grove_worker_v1_TunnelFrame__Output } from '../../../grove/worker/v1/TunnelFrame';
import type { WorkerMessage as _grove_worker_v1_WorkerMessage, WorkerMessage__Output as _grove_worker_v1_WorkerMessage__Output } from '../../../grove/worker/v1/WorkerMessage';

/**
 * Served by the controller on its gRPC port. Every call carries the worker's service-account credentials in metadata
 * (`authorization: Basic …`), which must hold the `compute:write` role.
 */
export interface WorkerServiceClient extends grpc.Client {
  /**
   * The worker's session: it sends Hello first and receives Welcome; afterwards either side may send Ping and must
   * answer Pong. A session whose pings go unanswered is dead and is closed by the side that noticed.
   */
  Session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_WorkerMessage, _grove_worker_v1_ControllerMessage__Output>;
  Session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_WorkerMessage, _grove_worker_v1_ControllerMessage__Output>;
  /**
   * The worker's session: it sends Hello first and receives Welcome; afterwards either side may send Ping and must
   * answer Pong. A session whose pings go unanswered is dead and is closed by the side that noticed.
   */
  session(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_WorkerMessage, _grove_worker_v1_ControllerMessage__Output>;
  session(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_WorkerMessage, _grove_worker_v1_ControllerMessage__Output>;
  
  /**
   * A tunnel, opened idle by the worker and parked by the controller until a user session needs it; then used for
   * exactly that session and never again. Calls carry `x-grove-worker-name` and `x-grove-session-key` (from Welcome)
   * instead of service-account credentials, which binds every tunnel to the worker's live Session. The controller
   * sends `open` first; after it both sides send `data`, `window`, `close_write` and `error` frames (see TunnelFrame).
   */
  Tunnel(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  Tunnel(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  /**
   * A tunnel, opened idle by the worker and parked by the controller until a user session needs it; then used for
   * exactly that session and never again. Calls carry `x-grove-worker-name` and `x-grove-session-key` (from Welcome)
   * instead of service-account credentials, which binds every tunnel to the worker's live Session. The controller
   * sends `open` first; after it both sides send `data`, `window`, `close_write` and `error` frames (see TunnelFrame).
   */
  tunnel(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  tunnel(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  
}

/**
 * Served by the controller on its gRPC port. Every call carries the worker's service-account credentials in metadata
 * (`authorization: Basic …`), which must hold the `compute:write` role.
 */
export interface WorkerServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The worker's session: it sends Hello first and receives Welcome; afterwards either side may send Ping and must
   * answer Pong. A session whose pings go unanswered is dead and is closed by the side that noticed.
   */
  Session: grpc.handleBidiStreamingCall<_grove_worker_v1_WorkerMessage__Output, _grove_worker_v1_ControllerMessage>;
  
  /**
   * A tunnel, opened idle by the worker and parked by the controller until a user session needs it; then used for
   * exactly that session and never again. Calls carry `x-grove-worker-name` and `x-grove-session-key` (from Welcome)
   * instead of service-account credentials, which binds every tunnel to the worker's live Session. The controller
   * sends `open` first; after it both sides send `data`, `window`, `close_write` and `error` frames (see TunnelFrame).
   */
  Tunnel: grpc.handleBidiStreamingCall<_grove_worker_v1_TunnelFrame__Output, _grove_worker_v1_TunnelFrame>;
  
}

export interface WorkerServiceDefinition extends grpc.ServiceDefinition {
  Session: MethodDefinition<_grove_worker_v1_WorkerMessage, _grove_worker_v1_ControllerMessage, _grove_worker_v1_WorkerMessage__Output, _grove_worker_v1_ControllerMessage__Output>
  Tunnel: MethodDefinition<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output, _grove_worker_v1_TunnelFrame__Output>
}
