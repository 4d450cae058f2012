// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Sent right before the worker ends a raw link's worker-to-controller direction because the target ended its data:
 * the FIN that follows on the link is a clean end, not the one a killed worker's sockets send. Lets the controller
 * pass that end on without a Ping round trip. Only on sessions whose Welcome lists "link-end-notice".
 */
export interface LinkEnded {
  /**
   * The tunnel session of the link (TunnelOpen.session of its open header).
   */
  'session'?: (string);
}

/**
 * Sent right before the worker ends a raw link's worker-to-controller direction because the target ended its data:
 * the FIN that follows on the link is a clean end, not the one a killed worker's sockets send. Lets the controller
 * pass that end on without a Ping round trip. Only on sessions whose Welcome lists "link-end-notice".
 */
export interface LinkEnded__Output {
  /**
   * The tunnel session of the link (TunnelOpen.session of its open header).
   */
  'session': (string);
}
