/**
 * Protocols of Grove's processes: the controller↔worker protocol (package `grove.worker.v1`, versioned from day one
 * and negotiated in Hello/Welcome) with its generated types in `gen/`.
 */
export const WORKER_PROTOCOL_PACKAGE = 'grove.worker.v1';
export { loadWorkerProtocol, PROTO_DIR, WORKER_PROTO, WORKER_PROTOCOL_VERSION } from './worker-protocol';
export type { ProtoGrpcType as WorkerProtocol } from './gen/worker';
export type { WorkerMessage, WorkerMessage__Output } from './gen/grove/worker/v1/WorkerMessage';
export type { ControllerMessage, ControllerMessage__Output } from './gen/grove/worker/v1/ControllerMessage';
