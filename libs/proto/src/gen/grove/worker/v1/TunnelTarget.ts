// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { TunnelTartGuestAgent as _grove_worker_v1_TunnelTartGuestAgent, TunnelTartGuestAgent__Output as _grove_worker_v1_TunnelTartGuestAgent__Output } from '../../../grove/worker/v1/TunnelTartGuestAgent';

/**
 * A target of a tunnel other than a TCP port of the VM.
 */
export interface TunnelTarget {
  /**
   * (Field 1 stays free for a host process of the VM, Orchard's `host_process`.)
   * The VM's Tart guest agent: the worker connects to the VM's control socket (tart.md §4.1), so the tunnel carries
   * the agent's gRPC (`/Agent/Exec`, `/Agent/ResolveIP`). Needs the worker capability `tunnel-guest-agent`.
   */
  'tart_guest_agent'?: (_grove_worker_v1_TunnelTartGuestAgent | null);
  'value'?: "tart_guest_agent";
}

/**
 * A target of a tunnel other than a TCP port of the VM.
 */
export interface TunnelTarget__Output {
  /**
   * (Field 1 stays free for a host process of the VM, Orchard's `host_process`.)
   * The VM's Tart guest agent: the worker connects to the VM's control socket (tart.md §4.1), so the tunnel carries
   * the agent's gRPC (`/Agent/Exec`, `/Agent/ResolveIP`). Needs the worker capability `tunnel-guest-agent`.
   */
  'tart_guest_agent'?: (_grove_worker_v1_TunnelTartGuestAgent__Output | null);
  'value'?: "tart_guest_agent";
}
