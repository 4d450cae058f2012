import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { RuntimeError } from '../vm-runtime';

/**
 * The listener of one service of a synthetic VM. It remembers every connection it accepted so that closing it ends
 * them all at once, like a VM powering off, and leaves no handle open (even when closed while still starting).
 */
export class ServiceListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(onConnection: (socket: Socket) => void) {
    this.server = createServer((socket) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      // The service attaches its own handlers; this one only keeps a reset connection from crashing the worker.
      socket.on('error', () => undefined);
      onConnection(socket);
    });
  }

  /** Listens on a port of 127.0.0.1 chosen by the OS and returns it. */
  async listenLoopback(): Promise<number> {
    await this.listen((done) => this.server.listen(0, '127.0.0.1', done));
    return (this.server.address() as AddressInfo).port;
  }

  /** Listens on a Unix socket (which must not exist). */
  listenUnix(path: string): Promise<void> {
    return this.listen((done) => this.server.listen(path, done));
  }

  /** Destroys every connection and stops listening (a Unix socket file is removed). */
  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    // A listen still in progress closes the server itself when it completes.
    await this.starting?.catch(() => undefined);
    if (this.server.listening) {
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
  }

  private listen(start: (done: () => void) => void): Promise<void> {
    this.starting = new Promise<void>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the service was closed before it started'));
        return;
      }
      this.server.once('error', reject);
      start(() => {
        this.server.off('error', reject);
        if (this.closed) {
          this.server.close(() => reject(new Error('the service was closed while it started')));
          return;
        }
        resolve();
      });
    });
    return this.starting;
  }
}

/** VM port 7: echoes every byte back, without Nagle delays (port-forwarding latency tests use it). */
export function echo(socket: Socket): void {
  socket.setNoDelay(true);
  socket.pipe(socket);
}

/**
 * Opens a TCP connection to a service's loopback port; `what` names the VM port in errors (`port 22 of VM "…"`).
 * Rejects with a RuntimeError when the connection fails or `signal` fires first.
 */
export function connectLoopback(port: number, signal: AbortSignal, what: string): Promise<Socket> {
  return new Promise<Socket>((resolveSocket, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const settle = () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
    };
    const onAbort = () => {
      settle();
      socket.destroy();
      reject(new RuntimeError(`connecting to ${what} was cancelled`));
    };
    const onError = (err: Error) => {
      settle();
      reject(new RuntimeError(`cannot connect to ${what}: ${err.message}`));
    };
    signal.addEventListener('abort', onAbort);
    socket.once('error', onError);
    socket.once('connect', () => {
      settle();
      resolveSocket(socket);
    });
    if (signal.aborted) {
      onAbort();
    }
  });
}

const LOCAL_NAME = /^grove-(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\d+$/;

/** The VM's own name in its on-disk name `grove-<name>-<uid>-<restartCount>`, or the on-disk name as it is. */
export function vmDisplayName(onDiskName: string): string {
  return LOCAL_NAME.exec(onDiskName)?.[1] ?? onDiskName;
}
