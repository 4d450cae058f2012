import { createSocket, type Socket as UdpSocket } from 'node:dgram';

/**
 * VM port 7/udp of a synthetic VM: sends every datagram back to where it came from (UDP endpoints are tested against
 * it, orchard-2026.md §1.2.2). It listens on a loopback port the OS picks, as the VM's TCP services do.
 */
export class UdpEcho {
  private readonly socket: UdpSocket = createSocket('udp4');
  private bound = false;
  private closed = false;

  constructor() {
    this.socket.on('message', (message, from) => {
      this.socket.send(message, from.port, from.address);
    });
    // A send to a peer that went away must not crash the worker.
    this.socket.on('error', () => undefined);
  }

  /** Binds to a port of 127.0.0.1 chosen by the OS and returns it. */
  listenLoopback(): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the service was closed before it started'));
        return;
      }
      this.socket.once('error', reject);
      this.socket.bind(0, '127.0.0.1', () => {
        this.socket.off('error', reject);
        this.bound = true;
        if (this.closed) {
          this.socket.close();
          reject(new Error('the service was closed while it started'));
          return;
        }
        resolve(this.socket.address().port);
      });
    });
  }

  close(): Promise<void> {
    if (this.closed) {
      return Promise.resolve();
    }
    this.closed = true;
    if (!this.bound) {
      // Binding in progress: its callback closes the socket.
      return Promise.resolve();
    }
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
