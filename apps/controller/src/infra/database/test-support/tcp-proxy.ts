import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of the test run's Postgres: it stands for the network between a controller and its
 * database, so that an integration test can take the database away from one controller without restarting the
 * cluster that every other test file uses.
 */
export interface TcpProxy {
  port: number;
  /** Resets every connection and refuses new ones, as a stopped server does. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /**
   * Makes the connection whose upstream side has local port `upstreamPort` (Postgres' `client_port` of the backend)
   * half-open: the server side is closed, so its backend ends, while the client side stays open and hears nothing,
   * as after a network cut that no FIN or RST crossed. False when there is no such connection.
   */
  halfOpen(upstreamPort: number): boolean;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  forwarding: boolean;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: Server | undefined;
  let port = 0;

  const accept = (client: Socket): void => {
    const upstream = createConnection({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, forwarding: true };
    pairs.add(pair);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => pair.forwarding && upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => pair.forwarding && client.write(chunk));
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => {
      if (pair.forwarding) {
        client.destroy();
      }
    });
  };

  const listen = async (): Promise<void> => {
    const next = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    const address = next.address();
    port = typeof address === 'object' && address ? address.port : port;
    server = next;
  };

  const stopListening = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      if (!current) {
        resolve();
        return;
      }
      current.close(() => resolve());
    });

  const resetAll = (): void => {
    for (const pair of pairs) {
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    pairs.clear();
  };

  await listen();
  return {
    get port() {
      return port;
    },
    cut: async () => {
      const closed = stopListening();
      resetAll();
      await closed;
    },
    restore: () => listen(),
    halfOpen: (upstreamPort) => {
      for (const pair of pairs) {
        if (pair.upstream.localPort === upstreamPort) {
          pair.forwarding = false;
          pair.upstream.destroy();
          return true;
        }
      }
      return false;
    },
    close: async () => {
      const closed = stopListening();
      resetAll();
      await closed;
    },
  };
}
