// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * The answer to ResolveIp.
 */
export interface ResolveIpResult {
  /**
   * The session of the ResolveIp being answered.
   */
  'session'?: (string);
  /**
   * The IPv4 address, when it was found.
   */
  'ip'?: (string);
  /**
   * Why the address could not be found (VM unknown, not running, no lease…); empty on success.
   */
  'error'?: (string);
}

/**
 * The answer to ResolveIp.
 */
export interface ResolveIpResult__Output {
  /**
   * The session of the ResolveIp being answered.
   */
  'session': (string);
  /**
   * The IPv4 address, when it was found.
   */
  'ip': (string);
  /**
   * Why the address could not be found (VM unknown, not running, no lease…); empty on success.
   */
  'error': (string);
}
