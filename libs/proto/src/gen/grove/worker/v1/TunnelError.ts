// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Failure of a tunnel session.
 */
export interface TunnelError {
  /**
   * What went wrong, for the user: e.g. `connection refused by VM "v1" on port 5900`.
   */
  'message'?: (string);
}

/**
 * Failure of a tunnel session.
 */
export interface TunnelError__Output {
  /**
   * What went wrong, for the user: e.g. `connection refused by VM "v1" on port 5900`.
   */
  'message': (string);
}
