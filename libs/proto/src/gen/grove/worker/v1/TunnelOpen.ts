// Original file: libs/proto/proto/grove/worker/v1/worker.proto


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
   * TCP port to connect to.
   */
  'port'?: (number);
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
   * TCP port to connect to.
   */
  'port': (number);
}
