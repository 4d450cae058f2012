// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { Hello as _grove_worker_v1_Hello, Hello__Output as _grove_worker_v1_Hello__Output } from '../../../grove/worker/v1/Hello';
import type { Ping as _grove_worker_v1_Ping, Ping__Output as _grove_worker_v1_Ping__Output } from '../../../grove/worker/v1/Ping';
import type { Pong as _grove_worker_v1_Pong, Pong__Output as _grove_worker_v1_Pong__Output } from '../../../grove/worker/v1/Pong';
import type { ResolveIpResult as _grove_worker_v1_ResolveIpResult, ResolveIpResult__Output as _grove_worker_v1_ResolveIpResult__Output } from '../../../grove/worker/v1/ResolveIpResult';
import type { LinkEnded as _grove_worker_v1_LinkEnded, LinkEnded__Output as _grove_worker_v1_LinkEnded__Output } from '../../../grove/worker/v1/LinkEnded';

/**
 * What a worker sends on its session.
 */
export interface WorkerMessage {
  /**
   * First message: who the worker is and what it can do.
   */
  'hello'?: (_grove_worker_v1_Hello | null);
  /**
   * Liveness probe; the controller answers with Pong carrying the same nonce.
   */
  'ping'?: (_grove_worker_v1_Ping | null);
  /**
   * Answer to the controller's Ping.
   */
  'pong'?: (_grove_worker_v1_Pong | null);
  /**
   * Answer to a ResolveIp instruction.
   */
  'resolve_ip_result'?: (_grove_worker_v1_ResolveIpResult | null);
  /**
   * The data a raw link carried from the target ended cleanly; the link's FIN follows (session capability
   * "link-end-notice").
   */
  'link_ended'?: (_grove_worker_v1_LinkEnded | null);
  'kind'?: "hello"|"ping"|"pong"|"resolve_ip_result"|"link_ended";
}

/**
 * What a worker sends on its session.
 */
export interface WorkerMessage__Output {
  /**
   * First message: who the worker is and what it can do.
   */
  'hello'?: (_grove_worker_v1_Hello__Output | null);
  /**
   * Liveness probe; the controller answers with Pong carrying the same nonce.
   */
  'ping'?: (_grove_worker_v1_Ping__Output | null);
  /**
   * Answer to the controller's Ping.
   */
  'pong'?: (_grove_worker_v1_Pong__Output | null);
  /**
   * Answer to a ResolveIp instruction.
   */
  'resolve_ip_result'?: (_grove_worker_v1_ResolveIpResult__Output | null);
  /**
   * The data a raw link carried from the target ended cleanly; the link's FIN follows (session capability
   * "link-end-notice").
   */
  'link_ended'?: (_grove_worker_v1_LinkEnded__Output | null);
  'kind'?: "hello"|"ping"|"pong"|"resolve_ip_result"|"link_ended";
}
