/** Nest injection token of the gRPC listener's TLS material: the same certificate as the REST API's. */
export const GRPC_TLS = Symbol('GRPC_TLS');

/**
 * The certificate and key the gRPC listener serves, undefined without TLS. `operatorProvided` is set for a pair given
 * with `--tls-cert/--tls-key`: relays between replicas then verify it like any certificate (system CAs, the relay
 * address's name) instead of pinning it.
 */
export type GrpcTls = { certPem: string; keyPem: string; operatorProvided?: boolean } | undefined;
