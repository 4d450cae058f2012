// Original file: libs/proto/proto/grove/controller/v1/replica.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { RelayedResolveIp as _grove_controller_v1_RelayedResolveIp, RelayedResolveIp__Output as _grove_controller_v1_RelayedResolveIp__Output } from '../../../grove/controller/v1/RelayedResolveIp';
import type { ResolveIpResult as _grove_worker_v1_ResolveIpResult, ResolveIpResult__Output as _grove_worker_v1_ResolveIpResult__Output } from '../../../grove/worker/v1/ResolveIpResult';
import type { TunnelFrame as _grove_worker_v1_TunnelFrame, TunnelFrame__Output as _grove_worker_v1_TunnelFrame__Output } from '../../../grove/worker/v1/TunnelFrame';

/**
 * Every call carries `x-grove-replica` (the calling replica's name) and `x-grove-relay-token` (the cluster's relay
 * secret, kept in Postgres: only processes that can read the database can relay). Calls with another token are
 * refused with UNAUTHENTICATED.
 */
export interface ReplicaServiceClient extends grpc.Client {
  /**
   * A tunnel of a worker connected to the serving replica, for a session that reached the calling replica. Metadata
   * `x-grove-worker-name` names the worker. The serving replica takes one of the worker's idle tunnels and relays the
   * frames both ways unchanged, so flow control stays end to end; the caller sends the first frame (`open` or
   * `exec_start`). UNAVAILABLE when the worker is not connected to the serving replica (any more).
   */
  Relay(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  Relay(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  /**
   * A tunnel of a worker connected to the serving replica, for a session that reached the calling replica. Metadata
   * `x-grove-worker-name` names the worker. The serving replica takes one of the worker's idle tunnels and relays the
   * frames both ways unchanged, so flow control stays end to end; the caller sends the first frame (`open` or
   * `exec_start`). UNAVAILABLE when the worker is not connected to the serving replica (any more).
   */
  relay(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  relay(options?: grpc.CallOptions): grpc.ClientDuplexStream<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output>;
  
  /**
   * Asks a worker connected to the serving replica for a VM's IP address (ResolveIp over its session).
   */
  ResolveIp(argument: _grove_controller_v1_RelayedResolveIp, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  ResolveIp(argument: _grove_controller_v1_RelayedResolveIp, metadata: grpc.Metadata, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  ResolveIp(argument: _grove_controller_v1_RelayedResolveIp, options: grpc.CallOptions, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  ResolveIp(argument: _grove_controller_v1_RelayedResolveIp, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  /**
   * Asks a worker connected to the serving replica for a VM's IP address (ResolveIp over its session).
   */
  resolveIp(argument: _grove_controller_v1_RelayedResolveIp, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  resolveIp(argument: _grove_controller_v1_RelayedResolveIp, metadata: grpc.Metadata, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  resolveIp(argument: _grove_controller_v1_RelayedResolveIp, options: grpc.CallOptions, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  resolveIp(argument: _grove_controller_v1_RelayedResolveIp, callback: grpc.requestCallback<_grove_worker_v1_ResolveIpResult__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Every call carries `x-grove-replica` (the calling replica's name) and `x-grove-relay-token` (the cluster's relay
 * secret, kept in Postgres: only processes that can read the database can relay). Calls with another token are
 * refused with UNAUTHENTICATED.
 */
export interface ReplicaServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * A tunnel of a worker connected to the serving replica, for a session that reached the calling replica. Metadata
   * `x-grove-worker-name` names the worker. The serving replica takes one of the worker's idle tunnels and relays the
   * frames both ways unchanged, so flow control stays end to end; the caller sends the first frame (`open` or
   * `exec_start`). UNAVAILABLE when the worker is not connected to the serving replica (any more).
   */
  Relay: grpc.handleBidiStreamingCall<_grove_worker_v1_TunnelFrame__Output, _grove_worker_v1_TunnelFrame>;
  
  /**
   * Asks a worker connected to the serving replica for a VM's IP address (ResolveIp over its session).
   */
  ResolveIp: grpc.handleUnaryCall<_grove_controller_v1_RelayedResolveIp__Output, _grove_worker_v1_ResolveIpResult>;
  
}

export interface ReplicaServiceDefinition extends grpc.ServiceDefinition {
  Relay: MethodDefinition<_grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame, _grove_worker_v1_TunnelFrame__Output, _grove_worker_v1_TunnelFrame__Output>
  ResolveIp: MethodDefinition<_grove_controller_v1_RelayedResolveIp, _grove_worker_v1_ResolveIpResult, _grove_controller_v1_RelayedResolveIp__Output, _grove_worker_v1_ResolveIpResult__Output>
}
