import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { copyEndpoints, sameEndpoints, type VmEndpoint, type VmObservedEndpoint } from '@grove/resources';
import type { UdpTarget } from '../runtime/vm-runtime';

/** How the worker reaches the services of one VM. */
export interface EndpointRelayTarget {
  /** A TCP connection to a port of the VM (the runtime's `connect`). */
  connectTcp(port: number, signal: AbortSignal): Promise<Socket>;
  /** Where datagrams for a UDP port of the VM go (the runtime's `udpTarget`). */
  udpTarget(port: number, signal: AbortSignal): Promise<UdpTarget>;
}

export interface VmEndpointSetOptions {
  /** The worker address the listeners bind (`grove worker run --endpoint-address`). */
  address: string;
  target: EndpointRelayTarget;
  log: (line: string) => void;
  /** A UDP flow (one client address and port) without datagrams for this long is forgotten; default 60 s. */
  udpFlowIdleMs?: number;
}

/** One open listener, or the error that kept it from opening. */
interface Listener {
  observed: VmObservedEndpoint;
  close(): Promise<void>;
}

const DEFAULT_UDP_FLOW_IDLE_MS = 60_000;

/**
 * Where VM endpoints listen unless the operator chooses another address (`grove worker run --endpoint-address`):
 * loopback, a deliberate deviation from Orchard's every-interface listeners (docs/api-compatibility.md).
 */
export const DEFAULT_ENDPOINT_ADDRESS = '127.0.0.1';

/**
 * The worker listeners of one VM's `endpoints` (orchard-2026.md §1.2.2): each endpoint gets a port of the worker —
 * the first free one of its `workerPortRange`, or one the OS picks — on the operator's address, and relays TCP
 * connections or UDP datagrams (with per-flow state: each client gets a socket of its own towards the VM, so replies
 * find their way back) to its VM port. As in Orchard, any change of the desired list closes every listener of the VM
 * and opens them afresh. Reconciliations run one after another; `close` ends them all and every relayed connection.
 */
export class VmEndpointSet {
  private desired: VmEndpoint[] = [];
  private listeners: Listener[] = [];
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: VmEndpointSetOptions) {}

  /** Makes the listeners match `desired`; resolves once they are open (or have failed). */
  reconcile(desired: readonly VmEndpoint[]): Promise<void> {
    this.queue = this.queue.then(() => this.apply(desired));
    return this.queue;
  }

  /** What to report as the VM's `observedEndpoints`, in the order of `endpoints`. */
  observed(): VmObservedEndpoint[] {
    return this.listeners.map((l) => ({ ...l.observed }));
  }

  /** Closes every listener and relayed connection; later reconciliations do nothing. */
  close(): Promise<void> {
    this.closed = true;
    this.queue = this.queue.then(() => this.closeListeners());
    return this.queue;
  }

  private async apply(desired: readonly VmEndpoint[]): Promise<void> {
    if (this.closed) {
      return;
    }
    if (sameEndpoints(this.desired, desired) && this.listeners.length === desired.length) {
      // Unchanged: only listeners that could not open try again (their port may have become free).
      for (const [i, listener] of this.listeners.entries()) {
        if (listener.observed.state === 'error') {
          this.listeners[i] = await this.open(this.desired[i], false);
        }
      }
      return;
    }
    await this.closeListeners();
    this.desired = copyEndpoints(desired);
    for (const endpoint of this.desired) {
      this.listeners.push(await this.open(endpoint));
    }
  }

  private async closeListeners(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = [];
    this.desired = [];
    await Promise.all(listeners.map((l) => l.close()));
  }

  private async open(endpoint: VmEndpoint, logFailure = true): Promise<Listener> {
    const ports = endpoint.workerPortRange
      ? { min: endpoint.workerPortRange.min, max: endpoint.workerPortRange.max }
      : { min: 0, max: 0 };
    const range = endpoint.workerPortRange;
    const where = !range
      ? 'a port'
      : range.min === range.max
        ? `port ${range.min}`
        : `a port of ${range.min}-${range.max}`;
    try {
      const listener =
        endpoint.protocol === 'udp' ? await this.openUdp(endpoint, ports) : await this.openTcp(endpoint, ports);
      this.options.log(
        `endpoint ${endpoint.name}: ${endpoint.protocol} ${this.options.address}:${listener.observed.workerPort} → ` +
          `VM port ${endpoint.target.vm.port}`,
      );
      return listener;
    } catch (err) {
      const message = `cannot listen on ${where} of ${this.options.address}: ${(err as Error).message}`;
      if (logFailure) {
        this.options.log(`endpoint ${endpoint.name}: ${message}`);
      }
      return {
        observed: { name: endpoint.name, protocol: endpoint.protocol, state: 'error', message },
        close: () => Promise.resolve(),
      };
    }
  }

  private async openTcp(endpoint: VmEndpoint, ports: { min: number; max: number }): Promise<Listener> {
    const connections = new Set<Socket>();
    const server = createServer({ allowHalfOpen: true }, (client) => this.relayTcp(endpoint, client, connections));
    const port = await bindFirstFree(ports, (p) => listenTcp(server, p, this.options.address));
    return {
      observed: { name: endpoint.name, protocol: 'tcp', workerPort: port, state: 'listening' },
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of connections) {
            socket.destroy();
          }
        }),
    };
  }

  private relayTcp(endpoint: VmEndpoint, client: Socket, connections: Set<Socket>): void {
    const track = (socket: Socket) => {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      socket.on('error', () => undefined);
    };
    track(client);
    client.setNoDelay(true);
    client.pause();
    const abort = new AbortController();
    client.once('close', () => abort.abort());
    this.options.target.connectTcp(endpoint.target.vm.port, abort.signal).then(
      (upstream) => {
        track(upstream);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        upstream.setNoDelay(true);
        client.once('close', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      },
      (err: Error) => {
        if (!abort.signal.aborted) {
          this.options.log(
            `endpoint ${endpoint.name}: cannot reach VM port ${endpoint.target.vm.port}: ${err.message}`,
          );
        }
        client.destroy();
      },
    );
  }

  private async openUdp(endpoint: VmEndpoint, ports: { min: number; max: number }): Promise<Listener> {
    const family = isIPv6(this.options.address) ? 'udp6' : 'udp4';
    const idleMs = this.options.udpFlowIdleMs ?? DEFAULT_UDP_FLOW_IDLE_MS;
    const abort = new AbortController();
    const flows = new Map<string, UdpFlow>();
    // Resolved once for every flow (for Tart each resolution runs `tart ip`), again after a failure.
    let target: Promise<UdpTarget> | undefined;
    const resolveTarget = (): Promise<UdpTarget> =>
      (target ??= this.options.target.udpTarget(endpoint.target.vm.port, abort.signal).catch((err: unknown) => {
        target = undefined;
        throw err;
      }));
    let listening: UdpSocket | undefined;
    const port = await bindFirstFree(ports, async (p) => {
      const socket = createSocket(family);
      await bindUdp(socket, p, this.options.address);
      listening = socket;
      return socket.address().port;
    });
    const socket = listening!;
    socket.on('error', (err) => this.options.log(`endpoint ${endpoint.name}: ${err.message}`));
    socket.on('message', (message, from) => {
      const key = `${from.address}|${from.port}`;
      let flow = flows.get(key);
      if (!flow) {
        flow = new UdpFlow(from, socket, {
          target: resolveTarget(),
          idleMs,
          onEnd: () => flows.delete(key),
          log: (line) => this.options.log(`endpoint ${endpoint.name}: ${line}`),
        });
        flows.set(key, flow);
      }
      flow.send(message);
    });
    return {
      observed: { name: endpoint.name, protocol: 'udp', workerPort: port, state: 'listening' },
      close: async () => {
        abort.abort();
        for (const flow of flows.values()) {
          flow.end();
        }
        await new Promise<void>((resolve) => socket.close(() => resolve()));
      },
    };
  }
}

/**
 * One client of a UDP endpoint: datagrams from it go to the VM from a socket of its own, and what the VM answers on
 * that socket goes back to the client from the endpoint's port. Forgotten after `idleMs` without traffic.
 */
class UdpFlow {
  private upstream: UdpSocket | undefined;
  private target: UdpTarget | undefined;
  private pending: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly client: RemoteInfo,
    private readonly listening: UdpSocket,
    private readonly options: {
      target: Promise<UdpTarget>;
      idleMs: number;
      onEnd: () => void;
      log: (line: string) => void;
    },
  ) {
    this.touch();
    options.target.then(
      (target) => {
        if (this.ended) {
          return;
        }
        this.target = target;
        const upstream = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
        upstream.on('error', () => undefined);
        upstream.on('message', (reply) => {
          this.touch();
          this.listening.send(reply, this.client.port, this.client.address);
        });
        this.upstream = upstream;
        for (const message of this.pending) {
          upstream.send(message, target.port, target.host);
        }
        this.pending = [];
      },
      (err: Error) => {
        if (!this.ended) {
          this.options.log(`cannot reach the VM: ${err.message}`);
          this.end();
        }
      },
    );
  }

  send(message: Buffer): void {
    this.touch();
    if (this.upstream && this.target) {
      this.upstream.send(message, this.target.port, this.target.host);
    } else {
      this.pending.push(message);
    }
  }

  end(): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    clearTimeout(this.timer);
    this.upstream?.close();
    this.options.onEnd();
  }

  private touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.end(), this.options.idleMs);
    this.timer.unref();
  }
}

/** Tries the ports of the range in order until one is free; 0…0 lets the OS pick. */
async function bindFirstFree(
  range: { min: number; max: number },
  bind: (port: number) => Promise<number>,
): Promise<number> {
  let last: Error | undefined;
  for (let port = range.min; port <= range.max; port++) {
    try {
      return await bind(port);
    } catch (err) {
      last = err as Error;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        break;
      }
    }
  }
  throw last ?? new Error('no port to try');
}

function listenTcp(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function bindUdp(socket: UdpSocket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}
