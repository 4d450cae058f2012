import type { Socket } from 'node:net';
import { ApiError, type PortForwardStream } from '@grove/client';
import type { WebSocket } from 'ws';

/**
 * One local connection's tunnel: a plain byte stream (Grove's raw tunnel protocol, docs/tunnels.md "Raw byte
 * streams"), or a port-forward WebSocket (older Grove controllers, Orchard). A stream with `opened` is pipelined: it
 * may be written at once, and `opened` rejects (the socket is destroyed with the same error) if it does not open.
 */
export type Tunnel = { kind: 'stream'; socket: Socket; opened?: Promise<void> } | { kind: 'websocket'; ws: WebSocket };

/** The two ways to open a tunnel to the same target; aborting `signal` abandons the attempt. */
export interface TunnelOpeners {
  /**
   * `Upgrade: grove-tunnel/1`, started without waiting (`opened` rejects with a TunnelRefusedError when the worker
   * cannot reach the target).
   */
  stream(signal: AbortSignal): PortForwardStream;
  /** The port-forward WebSocket with the half-close protocol. */
  webSocket(signal: AbortSignal): Promise<WebSocket>;
}

/**
 * Opens tunnels as plain byte streams, and falls back to WebSockets for the rest of the opener's life (the whole
 * `grove port-forward` run) once the controller shows it does not know the raw protocol. Such a controller answers the
 * upgrade before looking at the target: 400 (an older Grove: "this endpoint needs a WebSocket handshake"), 426
 * (Upgrade Required), or 404 from a router that has no such endpoint. A 404 naming the target (`VM "ci-1" not found`)
 * is the target's problem and is reported as it is. The connection that found out is opened again over a WebSocket,
 * so a wrong guess costs speed, never a connection.
 *
 * Once one raw tunnel opened, the controller is known to speak the protocol and later tunnels are pipelined: handed
 * over as soon as the request is written, so the local program's first bytes follow it without waiting for the answer
 * (one round trip through the controller and the worker less per connection). Should the controller stop knowing the
 * protocol during the run (replaced by an older version), the connection that finds out fails, and later ones use
 * WebSockets.
 */
export class FallbackTunnelOpener {
  private webSocketsOnly = false;
  private rawProven = false;

  /** @param targetName the VM's or worker's name, as the controller quotes it in its messages. */
  constructor(
    private readonly openers: TunnelOpeners,
    private readonly targetName: string,
  ) {}

  /** Whether tunnels are WebSockets from now on. */
  get fellBack(): boolean {
    return this.webSocketsOnly;
  }

  async open(signal: AbortSignal): Promise<Tunnel> {
    if (!this.webSocketsOnly && this.rawProven) {
      const { socket, opened } = this.openers.stream(signal);
      opened.catch((err: unknown) => {
        if (this.rawUnknown(err)) {
          this.webSocketsOnly = true;
        }
      });
      return { kind: 'stream', socket, opened };
    }
    if (!this.webSocketsOnly) {
      try {
        const { socket, opened } = this.openers.stream(signal);
        await opened;
        this.rawProven = true;
        return { kind: 'stream', socket };
      } catch (err) {
        if (signal.aborted || !this.rawUnknown(err)) {
          throw err;
        }
        this.webSocketsOnly = true;
      }
    }
    return { kind: 'websocket', ws: await this.openers.webSocket(signal) };
  }

  private rawUnknown(err: unknown): boolean {
    if (!(err instanceof ApiError)) {
      return false;
    }
    switch (err.status) {
      case 400:
      case 426:
        return true;
      case 404:
        return !err.message.includes(`"${this.targetName}"`);
      default:
        return false;
    }
  }
}
