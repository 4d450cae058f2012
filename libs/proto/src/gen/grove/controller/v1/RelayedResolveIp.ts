// Original file: libs/proto/proto/grove/controller/v1/replica.proto


/**
 * A ResolveIp for a worker of the serving replica.
 */
export interface RelayedResolveIp {
  /**
   * The worker that runs the VM.
   */
  'worker_name'?: (string);
  /**
   * The VM incarnation (`uid`).
   */
  'vm_uid'?: (string);
  /**
   * How long the worker may take to answer.
   */
  'timeout_ms'?: (number);
}

/**
 * A ResolveIp for a worker of the serving replica.
 */
export interface RelayedResolveIp__Output {
  /**
   * The worker that runs the VM.
   */
  'worker_name': (string);
  /**
   * The VM incarnation (`uid`).
   */
  'vm_uid': (string);
  /**
   * How long the worker may take to answer.
   */
  'timeout_ms': (number);
}
