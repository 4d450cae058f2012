// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Asks for idle tunnels beyond the worker's usual number.
 */
export interface OpenTunnels {
  /**
   * How many more Tunnel streams to open now.
   */
  'count'?: (number);
}

/**
 * Asks for idle tunnels beyond the worker's usual number.
 */
export interface OpenTunnels__Output {
  /**
   * How many more Tunnel streams to open now.
   */
  'count': (number);
}
