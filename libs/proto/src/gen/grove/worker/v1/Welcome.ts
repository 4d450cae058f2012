// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Accepts a session.
 */
export interface Welcome {
  /**
   * Protocol version both sides will use.
   */
  'protocol_version'?: (number);
  /**
   * Capabilities both sides support.
   */
  'capabilities'?: (string)[];
  /**
   * How often each side pings; a side that hears nothing for three intervals closes the session.
   */
  'ping_interval_ms'?: (number);
  /**
   * Secret that Tunnel calls of this session present in `x-grove-session-key`; a newer session gets a new one.
   */
  'session_key'?: (string);
  /**
   * How many idle Tunnel streams the worker keeps open.
   */
  'idle_tunnels'?: (number);
}

/**
 * Accepts a session.
 */
export interface Welcome__Output {
  /**
   * Protocol version both sides will use.
   */
  'protocol_version': (number);
  /**
   * Capabilities both sides support.
   */
  'capabilities': (string)[];
  /**
   * How often each side pings; a side that hears nothing for three intervals closes the session.
   */
  'ping_interval_ms': (number);
  /**
   * Secret that Tunnel calls of this session present in `x-grove-session-key`; a newer session gets a new one.
   */
  'session_key': (string);
  /**
   * How many idle Tunnel streams the worker keeps open.
   */
  'idle_tunnels': (number);
}
