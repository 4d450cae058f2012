// Original file: libs/proto/proto/grove/worker/v1/worker.proto


/**
 * A host process the worker runs beside the tunnel's VM (`TunnelOpen.vm_uid`), by its name in `hostProcesses`.
 */
export interface TunnelHostProcess {
  'name'?: (string);
}

/**
 * A host process the worker runs beside the tunnel's VM (`TunnelOpen.vm_uid`), by its name in `hostProcesses`.
 */
export interface TunnelHostProcess__Output {
  'name': (string);
}
