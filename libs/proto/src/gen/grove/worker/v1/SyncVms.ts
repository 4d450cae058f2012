// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * Asks the worker to reconcile its VMs now rather than at its next periodic sync.
 */
export interface SyncVms {
}

/**
 * Asks the worker to reconcile its VMs now rather than at its next periodic sync.
 */
export interface SyncVms__Output {
}
