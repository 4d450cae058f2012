import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** How a local program's connection ended, as the program saw it. */
export type ConnectionEnd = { how: 'end' } | { how: 'error'; code: string };

/**
 * A loopback TCP server that writes an endless stream to every connection, as fast as the connection takes it: the
 * far end of a download through a port-forward (a worker host's service, `grove port-forward worker`).
 */
export class EndlessSource {
  /** Bytes handed to `socket.write` so far, over all connections. */
  written = 0;
  /** Times a write found the socket's buffer full and waited for 'drain' (backpressure reached the source). */
  stalls = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private readonly chunk = Buffer.alloc(64 * 1024, 0x61);

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => this.sockets.delete(socket));
      this.pump(socket);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port)),
    );
  }

  /** Connections still open. */
  get open(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private pump(socket: Socket): void {
    while (!socket.destroyed) {
      this.written += this.chunk.length;
      if (!socket.write(this.chunk)) {
        this.stalls++;
        socket.once('drain', () => this.pump(socket));
        return;
      }
    }
  }
}

/**
 * A local program that downloads through a forwarded port: it only reads, as fast as the data comes, and records how
 * its connection ended, a clean end of data (FIN: it would take what it got for the whole) or an error such as
 * ECONNRESET (RST: it knows the data is incomplete).
 */
export class ForwardedDownload {
  received = 0;
  /** Whether the program ever saw a clean end of data. */
  sawEnd = false;
  /** The first way the connection ended. */
  readonly ended: Promise<ConnectionEnd>;
  private readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.ended = new Promise((resolve) => {
      this.socket.once('end', () => {
        this.sawEnd = true;
        resolve({ how: 'end' });
      });
      this.socket.once('error', (err: NodeJS.ErrnoException) =>
        resolve({ how: 'error', code: err.code ?? err.message }),
      );
    });
    this.socket.on('data', (data: Buffer) => (this.received += data.length));
  }

  /** Stops the program (its connection is destroyed). */
  stop(): void {
    this.socket.destroy();
  }
}
