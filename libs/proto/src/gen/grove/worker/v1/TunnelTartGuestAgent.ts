// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * The Tart guest agent of the tunnel's VM (`TunnelOpen.vm_uid`); nothing more to say.
 */
export interface TunnelTartGuestAgent {
}

/**
 * The Tart guest agent of the tunnel's VM (`TunnelOpen.vm_uid`); nothing more to say.
 */
export interface TunnelTartGuestAgent__Output {
}
