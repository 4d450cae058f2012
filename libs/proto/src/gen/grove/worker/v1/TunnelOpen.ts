// Original file: libs/proto/proto/grove/worker/v1/worker.proto

import type { TunnelTarget as _grove_worker_v1_TunnelTarget, TunnelTarget__Output as _grove_worker_v1_TunnelTarget__Output } from '../../../grove/worker/v1/TunnelTarget';

/**
 * Names the session and its target.
 */
export interface TunnelOpen {
  /**
   * Unique id of the user session, for logs and audit events on both sides.
   */
  'session'?: (string);
  /**
   * The VM incarnation (`uid`) to connect to; empty for a port on the worker host itself.
   */
  'vm_uid'?: (string);
  /**
   * TCP port to connect to; 0 when `target` names something else.
   */
  'port'?: (number);
  /**
   * What to connect to instead of a TCP port (Orchard's `PortForward.Target`, orchard-2026.md §1.2.4); unset: `port`.
   * A worker that does not know this field would dial port 0, so the controller sends it only to workers that
   * registered the capability the target needs (`tunnel-guest-agent`, `host-processes`); a worker answers a target it does not know,
   * or an empty one, with an error frame.
   */
  'target'?: (_grove_worker_v1_TunnelTarget | null);
  /**
   * W3C trace context (`00-<trace id>-<span id>-<flags>`) of the controller's span of this session, so that the
   * worker's span of it joins the same trace (issue 14, docs/observability.md); empty when the controller does not
   * trace. Older workers skip the field.
   */
  'traceparent'?: (string);
}

/**
 * Names the session and its target.
 */
export interface TunnelOpen__Output {
  /**
   * Unique id of the user session, for logs and audit events on both sides.
   */
  'session': (string);
  /**
   * The VM incarnation (`uid`) to connect to; empty for a port on the worker host itself.
   */
  'vm_uid': (string);
  /**
   * TCP port to connect to; 0 when `target` names something else.
   */
  'port': (number);
  /**
   * What to connect to instead of a TCP port (Orchard's `PortForward.Target`, orchard-2026.md §1.2.4); unset: `port`.
   * A worker that does not know this field would dial port 0, so the controller sends it only to workers that
   * registered the capability the target needs (`tunnel-guest-agent`, `host-processes`); a worker answers a target it does not know,
   * or an empty one, with an error frame.
   */
  'target': (_grove_worker_v1_TunnelTarget__Output | null);
  /**
   * W3C trace context (`00-<trace id>-<span id>-<flags>`) of the controller's span of this session, so that the
   * worker's span of it joins the same trace (issue 14, docs/observability.md); empty when the controller does not
   * trace. Older workers skip the field.
   */
  'traceparent': (string);
}
