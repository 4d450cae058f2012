import { startDelayProxy, type DelayProxy } from '@grove/tunnel';

/*
 * The delay proxies the benchmark starts in worker threads (targets.ts), in a module of the benchmark's own: the
 * threads load it by path, which would otherwise have to be `@grove/tunnel`'s resolved path (a lazy load of the
 * library, which the module-boundary rule then forbids importing statically anywhere else).
 */
export { startDelayProxy };

/** Options of {@link startMirrorDelayProxy}. */
export interface MirrorDelayProxyOptions {
  /** The address the proxy listens on, e.g. 127.0.0.2. */
  host: string;
  /** Where connections go: the same port on this address, e.g. 127.0.0.1. */
  targetHost: string;
  /** One-way delay in ms, each direction. */
  delayMs: number;
}

/**
 * A delay proxy listening on `host:P` that forwards to `targetHost:P`, P being the port the proxy was given. A worker
 * dials the controller's gRPC port (from `GET /v1/controller/info`) on the host of its controller URL, so a proxy on
 * that path must listen on the very port the controller announces: start this first, then the controller on
 * `targetHost:P`. `startDelayProxy` has no port option; it reads `target` at each connection, which is what lets the
 * port be filled in once known (were that to change, the worker would fail to connect and the benchmark would stop).
 */
export async function startMirrorDelayProxy(options: MirrorDelayProxyOptions): Promise<DelayProxy> {
  const target = { host: options.targetHost, port: 0 };
  const proxy = await startDelayProxy({ host: options.host, target, delayMs: options.delayMs });
  target.port = proxy.port;
  return proxy;
}
