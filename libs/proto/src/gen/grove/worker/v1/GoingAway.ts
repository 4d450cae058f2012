// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Sent by a controller that is about to stop. The worker opens a new session at once, without back-off (through a load
 * balancer it reaches another replica), while the tunnels in use finish on the old connection.
 */
export interface GoingAway {
  /**
   * Why, for the worker's log.
   */
  'reason'?: (string);
}

/**
 * Sent by a controller that is about to stop. The worker opens a new session at once, without back-off (through a load
 * balancer it reaches another replica), while the tunnels in use finish on the old connection.
 */
export interface GoingAway__Output {
  /**
   * Why, for the worker's log.
   */
  'reason': (string);
}
