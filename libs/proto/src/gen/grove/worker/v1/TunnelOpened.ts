// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * The worker reached the target.
 */
export interface TunnelOpened {
}

/**
 * The worker reached the target.
 */
export interface TunnelOpened__Output {
}
