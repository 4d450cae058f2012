// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Opens a session.
 */
export interface Hello {
  /**
   * The worker's registered name (`POST /v1/workers`).
   */
  'worker_name'?: (string);
  /**
   * Highest protocol version the worker speaks; this file is version 1.
   */
  'protocol_version'?: (number);
  /**
   * Optional features the worker offers, e.g. "exec-agent"; unknown ones are ignored.
   */
  'capabilities'?: (string)[];
  /**
   * Grove release of the worker, for logs and `grove get worker`.
   */
  'worker_version'?: (string);
}

/**
 * Opens a session.
 */
export interface Hello__Output {
  /**
   * The worker's registered name (`POST /v1/workers`).
   */
  'worker_name': (string);
  /**
   * Highest protocol version the worker speaks; this file is version 1.
   */
  'protocol_version': (number);
  /**
   * Optional features the worker offers, e.g. "exec-agent"; unknown ones are ignored.
   */
  'capabilities': (string)[];
  /**
   * Grove release of the worker, for logs and `grove get worker`.
   */
  'worker_version': (string);
}
