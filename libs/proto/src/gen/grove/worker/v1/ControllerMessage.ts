// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { Welcome as _grove_worker_v1_Welcome, Welcome__Output as _grove_worker_v1_Welcome__Output } from '../../../grove/worker/v1/Welcome';
import type { Ping as _grove_worker_v1_Ping, Ping__Output as _grove_worker_v1_Ping__Output } from '../../../grove/worker/v1/Ping';
import type { Pong as _grove_worker_v1_Pong, Pong__Output as _grove_worker_v1_Pong__Output } from '../../../grove/worker/v1/Pong';
import type { SyncVms as _grove_worker_v1_SyncVms, SyncVms__Output as _grove_worker_v1_SyncVms__Output } from '../../../grove/worker/v1/SyncVms';
import type { ResolveIp as _grove_worker_v1_ResolveIp, ResolveIp__Output as _grove_worker_v1_ResolveIp__Output } from '../../../grove/worker/v1/ResolveIp';
import type { OpenTunnels as _grove_worker_v1_OpenTunnels, OpenTunnels__Output as _grove_worker_v1_OpenTunnels__Output } from '../../../grove/worker/v1/OpenTunnels';
import type { GoingAway as _grove_worker_v1_GoingAway, GoingAway__Output as _grove_worker_v1_GoingAway__Output } from '../../../grove/worker/v1/GoingAway';

/**
 * What the controller sends on a worker's session.
 */
export interface ControllerMessage {
  /**
   * Answer to Hello: the negotiated protocol and timing.
   */
  'welcome'?: (_grove_worker_v1_Welcome | null);
  /**
   * Liveness probe; the worker answers with Pong carrying the same nonce.
   */
  'ping'?: (_grove_worker_v1_Ping | null);
  /**
   * Answer to the worker's Ping.
   */
  'pong'?: (_grove_worker_v1_Pong | null);
  /**
   * Reconcile now: the VMs assigned to this worker changed.
   */
  'sync_vms'?: (_grove_worker_v1_SyncVms | null);
  /**
   * Report the IP address of one VM.
   */
  'resolve_ip'?: (_grove_worker_v1_ResolveIp | null);
  /**
   * Open more idle Tunnel streams: user sessions are waiting for them.
   */
  'open_tunnels'?: (_grove_worker_v1_OpenTunnels | null);
  /**
   * This controller is shutting down: open a new session now (another replica takes it), finish tunnels in use.
   */
  'going_away'?: (_grove_worker_v1_GoingAway | null);
  'kind'?: "welcome"|"ping"|"pong"|"sync_vms"|"resolve_ip"|"open_tunnels"|"going_away";
}

/**
 * What the controller sends on a worker's session.
 */
export interface ControllerMessage__Output {
  /**
   * Answer to Hello: the negotiated protocol and timing.
   */
  'welcome'?: (_grove_worker_v1_Welcome__Output | null);
  /**
   * Liveness probe; the worker answers with Pong carrying the same nonce.
   */
  'ping'?: (_grove_worker_v1_Ping__Output | null);
  /**
   * Answer to the worker's Ping.
   */
  'pong'?: (_grove_worker_v1_Pong__Output | null);
  /**
   * Reconcile now: the VMs assigned to this worker changed.
   */
  'sync_vms'?: (_grove_worker_v1_SyncVms__Output | null);
  /**
   * Report the IP address of one VM.
   */
  'resolve_ip'?: (_grove_worker_v1_ResolveIp__Output | null);
  /**
   * Open more idle Tunnel streams: user sessions are waiting for them.
   */
  'open_tunnels'?: (_grove_worker_v1_OpenTunnels__Output | null);
  /**
   * This controller is shutting down: open a new session now (another replica takes it), finish tunnels in use.
   */
  'going_away'?: (_grove_worker_v1_GoingAway__Output | null);
  'kind'?: "welcome"|"ping"|"pong"|"sync_vms"|"resolve_ip"|"open_tunnels"|"going_away";
}
