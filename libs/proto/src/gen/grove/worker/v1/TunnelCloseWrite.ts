// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * End of one direction.
 */
export interface TunnelCloseWrite {
}

/**
 * End of one direction.
 */
export interface TunnelCloseWrite__Output {
}
