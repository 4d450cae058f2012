import type { Socket } from 'node:net';
import { ApiError, readLinkOpenHeader } from '@grove/client';
import { decodeTunnelFrame } from '@grove/proto';
import { reconnectDelayMs } from './backoff';
import type { PortForwardOpenFrame } from './tunnel-pool';

export interface LinkPoolOptions {
  /** Opens one idle link of this session (`GroveClient.workers.openTunnelLink`), resolving after the 101. */
  open: (signal: AbortSignal) => Promise<Socket>;
  /** Idle links to keep (as many as idle Tunnel streams, from Welcome). */
  idleTarget: number;
  /** Takes over a link the controller started using, with its open frame; the session's first bytes follow on it. */
  onOpen: (open: PortForwardOpenFrame, socket: Socket) => void;
  log: (line: string) => void;
}

/**
 * The worker's idle raw links (docs/tunnels.md "Raw byte streams"): plain TCP (or TLS) connections to the controller,
 * upgraded and waiting for a port-forward session's open header, like the idle Tunnel streams of TunnelPool but
 * without gRPC underneath. Used links are replaced in batches, once half of them are used. A link the controller refuses (another replica
 * holds this session, behind a load balancer) or that fails is opened again after a jittered back-off; a controller
 * that does not know links (404) is not asked again in this session: its sessions use the Tunnel streams.
 */
export class LinkPool {
  private readonly idle = new Set<Socket>();
  private readonly aborts = new AbortController();
  private opening = 0;
  private failures = 0;
  private stopped = false;
  private refill: NodeJS.Timeout | undefined;
  private lastLogged: string | undefined;

  constructor(private readonly options: LinkPoolOptions) {
    this.fill();
  }

  /** Idle links open right now. */
  get idleCount(): number {
    return this.idle.size;
  }

  /** Closes every idle link and stops opening them; links in use are not touched. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.refill);
    this.aborts.abort();
    for (const socket of this.idle) {
      socket.destroy();
    }
    this.idle.clear();
  }

  private fill(): void {
    while (!this.stopped && this.idle.size + this.opening < this.options.idleTarget) {
      void this.openOne();
    }
  }

  private async openOne(): Promise<void> {
    this.opening++;
    let socket: Socket;
    try {
      socket = await this.options.open(this.aborts.signal);
    } catch (err) {
      this.opening--;
      this.failed(err as Error);
      return;
    }
    this.opening--;
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.failures = 0;
    this.idle.add(socket);
    // Its failures show as the end of the header read below; an 'error' without a listener would end the process.
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    let header: Buffer;
    try {
      header = await readLinkOpenHeader(socket);
    } catch {
      // Closed while idle: the controller retired it (its session here ended, or it shuts down) or the network cut it.
      this.idle.delete(socket);
      socket.destroy();
      this.scheduleRefill();
      return;
    }
    this.idle.delete(socket);
    const frame = decodeTunnelFrame(header);
    if (frame?.kind !== 'open') {
      this.options.log(`a tunnel link must start with an open header, not ${frame?.kind ?? 'an unreadable frame'}`);
      socket.destroy();
      this.scheduleRefill();
      return;
    }
    // Replacements in batches, once half the idle links are used: a batch's connections and upgrades are handled in
    // fewer turns of both event loops than one per session, and most sessions then meet no replacement work. After the
    // session has started its connect, which is on the user's critical path.
    if (this.idle.size + this.opening <= Math.floor(this.options.idleTarget / 2)) {
      setImmediate(() => this.fill());
    }
    this.options.onOpen(frame, socket);
  }

  private failed(err: Error): void {
    if (this.stopped) {
      return;
    }
    if (err instanceof ApiError && err.status === 404) {
      this.log(`the controller does not offer tunnel links (${err.message}); sessions use the gRPC tunnels`);
      this.stopped = true;
      return;
    }
    this.failures++;
    this.log(`opening a tunnel link failed: ${err instanceof ApiError ? err.userMessage : err.message}`);
    this.scheduleRefill();
  }

  /** Logs a line unless it repeats the last one (a refusing replica would otherwise fill the log). */
  private log(line: string): void {
    if (line !== this.lastLogged) {
      this.lastLogged = line;
      this.options.log(line);
    }
  }

  private scheduleRefill(): void {
    if (this.refill || this.stopped) {
      return;
    }
    this.refill = setTimeout(
      () => {
        this.refill = undefined;
        this.fill();
      },
      this.failures > 0 ? reconnectDelayMs(this.failures - 1) : 0,
    );
    this.refill.unref();
  }
}
