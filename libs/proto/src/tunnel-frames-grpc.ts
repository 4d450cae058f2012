import {
  makeClientConstructor,
  type MethodDefinition,
  type ServiceClientConstructor,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { dataFrameHeader, decodeTunnelFrame, encodeTunnelFrame, type TunnelFrame } from './tunnel-frames';
import { loadReplicaProtocol, loadWorkerProtocol } from './worker-protocol';

/**
 * A data frame's protobuf bytes as grpc-js takes them, without a copy of the data (issue 17). grpc-js copies every
 * serialized message once more into its own length-prefixed buffer, and reads nothing of it but `length` (client) or
 * `byteLength` (server) and `copy(target, 5)`; so a data frame is handed over as its field header and the caller's
 * data, and that copy is the only one. The data must not change until grpc-js has copied it: every writer of data
 * frames hands over buffers it never reuses (socket reads, WebSocket messages, decoded frames). A grpc-js that used
 * the message otherwise would fail every tunnel test that moves data (tunnel-endpoint.spec.ts runs over grpc-js).
 */
class SerializedDataFrame {
  readonly length: number;

  constructor(
    private readonly header: Buffer,
    private readonly data: Buffer,
  ) {
    this.length = header.length + data.length;
  }

  get byteLength(): number {
    return this.length;
  }

  copy(target: Uint8Array, targetStart = 0): number {
    this.header.copy(target, targetStart);
    this.data.copy(target, targetStart + this.header.length);
    return this.length;
  }
}

/** A frame's serialization for grpc-js: `encodeTunnelFrame`, except that data frames are not copied here. */
function serializeTunnelFrame(value: unknown): Buffer {
  const frame = value as TunnelFrame;
  if (frame.kind !== 'data') {
    return encodeTunnelFrame(frame);
  }
  const header = dataFrameHeader(frame.data.length);
  // Duck-typed as described above; a real Buffer here would cost a copy of every byte of the tunnel.
  return new SerializedDataFrame(header, frame.data) as unknown as Buffer;
}

/**
 * The WorkerService as grpc-js needs it: `Session` with the generated protobuf codec, `Tunnel` with the hand-written
 * frame codec above (the same bytes protobuf would produce; worker-protocol.spec.ts checks that).
 */
export function workerServiceDefinition(): ServiceDefinition {
  const generated = loadWorkerProtocol().grove.worker.v1.WorkerService.service;
  const tunnel = generated.Tunnel as MethodDefinition<unknown, unknown>;
  return {
    ...generated,
    Tunnel: {
      ...tunnel,
      requestSerialize: serializeTunnelFrame,
      requestDeserialize: decodeTunnelFrame,
      responseSerialize: serializeTunnelFrame,
      responseDeserialize: decodeTunnelFrame,
    },
  };
}

/** A grpc-js client class of the WorkerService with the tunnel codec. */
export function workerServiceClient(): ServiceClientConstructor {
  return makeClientConstructor(workerServiceDefinition(), 'grove.worker.v1.WorkerService');
}

/**
 * The gRPC service definition of the ReplicaService (controller replicas relaying sessions to each other), with the
 * tunnel codec on Relay: the frames cross the extra hop exactly as the worker sent them.
 */
export function replicaServiceDefinition(): ServiceDefinition {
  const generated = loadReplicaProtocol().grove.controller.v1.ReplicaService.service;
  const relay = generated.Relay as MethodDefinition<unknown, unknown>;
  return {
    ...generated,
    Relay: {
      ...relay,
      requestSerialize: serializeTunnelFrame,
      requestDeserialize: decodeTunnelFrame,
      responseSerialize: serializeTunnelFrame,
      responseDeserialize: decodeTunnelFrame,
    },
  };
}

/** A grpc-js client class of the ReplicaService with the tunnel codec. */
export function replicaServiceClient(): ServiceClientConstructor {
  return makeClientConstructor(replicaServiceDefinition(), 'grove.controller.v1.ReplicaService');
}
