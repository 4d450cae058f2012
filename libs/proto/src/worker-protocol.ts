import { join } from 'node:path';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from './gen/worker';
import type { ProtoGrpcType as ReplicaProtoGrpcType } from './gen/replica';

/** Directory of the .proto files (works from src/ and dist/: both sit one level below the package). */
export const PROTO_DIR = join(__dirname, '..', 'proto');

/** The controller↔worker protocol file, relative to PROTO_DIR. */
export const WORKER_PROTO = 'grove/worker/v1/worker.proto';

/** Protocol version this code speaks; negotiated in Hello/Welcome. */
export const WORKER_PROTOCOL_VERSION = 1;

/**
 * Session capability (Hello/Welcome `capabilities`): the worker sends LinkEnded before it ends a raw link's data
 * cleanly, so the controller need not probe with a Ping to tell that FIN from a killed worker's.
 */
export const SESSION_CAPABILITY_LINK_END_NOTICE = 'link-end-notice';

/**
 * Loads the protocol with the same options the committed types were generated with (scripts/proto-gen.sh), so that
 * what grpc-js decodes is exactly what the types describe.
 */
export function loadWorkerProtocol(): ProtoGrpcType {
  const definition = loadSync(WORKER_PROTO, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return loadPackageDefinition(definition) as unknown as ProtoGrpcType;
}

/** The replica↔replica protocol file (package `grove.controller.v1`), relative to PROTO_DIR. */
export const REPLICA_PROTO = 'grove/controller/v1/replica.proto';

/** Loads the replica protocol (it imports the worker protocol's TunnelFrame and ResolveIpResult). */
export function loadReplicaProtocol(): ReplicaProtoGrpcType {
  const definition = loadSync(REPLICA_PROTO, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  return loadPackageDefinition(definition) as unknown as ReplicaProtoGrpcType;
}
