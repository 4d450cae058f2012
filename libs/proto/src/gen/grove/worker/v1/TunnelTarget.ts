// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { TunnelHostProcess as _grove_worker_v1_TunnelHostProcess, TunnelHostProcess__Output as _grove_worker_v1_TunnelHostProcess__Output } from '../../../grove/worker/v1/TunnelHostProcess';
import type { TunnelTartGuestAgent as _grove_worker_v1_TunnelTartGuestAgent, TunnelTartGuestAgent__Output as _grove_worker_v1_TunnelTartGuestAgent__Output } from '../../../grove/worker/v1/TunnelTartGuestAgent';

/**
 * A target of a tunnel other than a TCP port of the VM.
 */
export interface TunnelTarget {
  /**
   * A host process of the VM (orchard-2026.md §1.2.3): the worker connects to the Unix socket the process listens
   * on. Needs the worker capability `host-processes`.
   */
  'host_process'?: (_grove_worker_v1_TunnelHostProcess | null);
  /**
   * The VM's Tart guest agent: the worker connects to the VM's control socket (tart.md §4.1), so the tunnel carries
   * the agent's gRPC (`/Agent/Exec`, `/Agent/ResolveIP`). Needs the worker capability `tunnel-guest-agent`.
   */
  'tart_guest_agent'?: (_grove_worker_v1_TunnelTartGuestAgent | null);
  'value'?: "host_process"|"tart_guest_agent";
}

/**
 * A target of a tunnel other than a TCP port of the VM.
 */
export interface TunnelTarget__Output {
  /**
   * A host process of the VM (orchard-2026.md §1.2.3): the worker connects to the Unix socket the process listens
   * on. Needs the worker capability `host-processes`.
   */
  'host_process'?: (_grove_worker_v1_TunnelHostProcess__Output | null);
  /**
   * The VM's Tart guest agent: the worker connects to the VM's control socket (tart.md §4.1), so the tunnel carries
   * the agent's gRPC (`/Agent/Exec`, `/Agent/ResolveIP`). Needs the worker capability `tunnel-guest-agent`.
   */
  'tart_guest_agent'?: (_grove_worker_v1_TunnelTartGuestAgent__Output | null);
  'value'?: "host_process"|"tart_guest_agent";
}
