import { existsSync } from 'node:fs';

/** Debian's HAProxy (scripts/ensure-haproxy.sh installs it for the test suite). */
export const HAPROXY = '/usr/sbin/haproxy';

export function haproxyAvailable(): boolean {
  return existsSync(HAPROXY);
}

/** One controller replica behind the balancer, on loopback. */
export interface BalancedReplica {
  name: string;
  /** Its REST port. */
  port: number;
  grpcPort: number;
}

/**
 * HAProxy in TCP mode on loopback, for the multi-controller tests and benchmarks: a REST and a gRPC frontend, each
 * balancing round-robin over every replica, with fast connect checks and redispatch (a replica that is gone is out of
 * rotation within a quarter of a second).
 */
export function haproxyConfig(restPort: number, grpcPort: number, replicas: readonly BalancedReplica[]): string {
  const servers = (port: (r: BalancedReplica) => number) =>
    replicas.map((r) => `  server ${r.name} 127.0.0.1:${port(r)} check inter 250 fall 1 rise 1`).join('\n');
  return `global
  maxconn 4000
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  retries 3
  option redispatch
frontend rest
  bind 127.0.0.1:${restPort}
  default_backend rest
backend rest
  balance roundrobin
${servers((r) => r.port)}
frontend grpc
  bind 127.0.0.1:${grpcPort}
  default_backend grpc
backend grpc
  balance roundrobin
${servers((r) => r.grpcPort)}
`;
}
