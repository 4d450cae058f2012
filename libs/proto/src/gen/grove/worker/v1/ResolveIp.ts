// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Asks for a VM's IP address.
 */
export interface ResolveIp {
  /**
   * Correlates the answer with the waiting API request.
   */
  'session'?: (string);
  /**
   * The VM incarnation (its `uid`), so that a VM re-created under the same name is never confused with the old one.
   */
  'vm_uid'?: (string);
}

/**
 * Asks for a VM's IP address.
 */
export interface ResolveIp__Output {
  /**
   * Correlates the answer with the waiting API request.
   */
  'session': (string);
  /**
   * The VM incarnation (its `uid`), so that a VM re-created under the same name is never confused with the old one.
   */
  'vm_uid': (string);
}
