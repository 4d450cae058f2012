import { status as GrpcStatus, type ClientDuplexStream } from '@grpc/grpc-js';
import type { TunnelFrame } from '@grove/proto';
import { reconnectDelayMs } from './backoff';

/** A Tunnel call as the worker holds it. */
export type TunnelClientCall = ClientDuplexStream<TunnelFrame, TunnelFrame | undefined>;

/**
 * The first frame of a used tunnel: `open` for a port-forward session (TunnelServer), `execStart` for an exec session
 * (ExecServer).
 */
export type TunnelOpenFrame = Extract<TunnelFrame, { kind: 'open' | 'execStart' }>;

/** The first frame of a port-forward session. */
export type PortForwardOpenFrame = Extract<TunnelFrame, { kind: 'open' }>;

export interface TunnelPoolOptions {
  /** Starts a new Tunnel call on the session's connection. */
  open: () => TunnelClientCall;
  /** Idle tunnels to keep (the controller says how many in Welcome). */
  idleTarget: number;
  /**
   * Takes over a tunnel the controller started using, with its first frame (`open` or `execStart`); the call is paused
   * until the handler reads it.
   */
  onOpen: (open: TunnelOpenFrame, call: TunnelClientCall) => void;
  log: (line: string) => void;
  /** An idle tunnel beyond `idleTarget` is closed after this long unused; default 60 s. */
  maxIdleMs?: number;
}

interface IdleTunnel {
  call: TunnelClientCall;
  since: number;
}

/**
 * The worker's idle Tunnel streams (GitLab agent style, tunnels.md §1.3): it keeps `idleTarget` of them open on the
 * session's connection, opens a replacement the moment one is used, opens extra ones when the controller asks
 * (`OpenTunnels`, a burst of sessions), and closes surplus ones that stayed unused for a minute. A stream that fails
 * before use is replaced after a jittered back-off, so a broken controller is not hammered.
 */
export class TunnelPool {
  private readonly idle = new Set<IdleTunnel>();
  private stopped = false;
  private failures = 0;
  private refill: NodeJS.Timeout | undefined;
  private readonly reaper: NodeJS.Timeout;

  constructor(private readonly options: TunnelPoolOptions) {
    const maxIdleMs = options.maxIdleMs ?? 60_000;
    this.reaper = setInterval(() => this.reap(maxIdleMs), Math.min(maxIdleMs, 30_000));
    this.reaper.unref();
    this.fill();
  }

  /** Idle tunnels open right now. */
  get idleCount(): number {
    return this.idle.size;
  }

  /** Opens `count` more idle tunnels (the controller has sessions waiting). */
  openMore(count: number): void {
    for (let i = 0; i < Math.min(count, 1000) && !this.stopped; i++) {
      this.openOne();
    }
  }

  /** Closes every idle tunnel and stops replacing them; tunnels in use are not touched. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.reaper);
    clearTimeout(this.refill);
    for (const tunnel of [...this.idle]) {
      this.idle.delete(tunnel);
      tunnel.call.cancel();
    }
  }

  private fill(): void {
    while (!this.stopped && this.idle.size < this.options.idleTarget) {
      this.openOne();
    }
  }

  private openOne(): void {
    const call = this.options.open();
    const tunnel: IdleTunnel = { call, since: Date.now() };
    this.idle.add(tunnel);
    const onData = (frame: TunnelFrame | undefined) => {
      if (!frame) {
        return;
      }
      detach();
      call.pause();
      this.idle.delete(tunnel);
      if (frame.kind !== 'open' && frame.kind !== 'execStart') {
        call.on('error', () => undefined);
        call.write({
          kind: 'error',
          message: `a tunnel must start with an open or execStart frame, not ${frame.kind}`,
        });
        call.end();
        return;
      }
      this.failures = 0;
      // The replacement after the session has started its connect: opening a stream costs a few hundred µs, and
      // the session's connect is on the user's critical path (docs/benchmarks.md, "Tunnel session setup").
      setImmediate(() => this.fill());
      this.options.onOpen(frame, call);
    };
    const onError = (err: Error & { code?: number; details?: string }) => {
      detach();
      const wasIdle = this.idle.delete(tunnel);
      if (this.stopped || !wasIdle || err.code === GrpcStatus.CANCELLED) {
        return;
      }
      this.options.log(`idle tunnel failed: ${err.details || err.message}`);
      this.failures++;
      this.scheduleRefill();
    };
    // The controller retires idle tunnels by ending them (e.g. its shutdown); the session decides what comes next.
    const onEnd = () => {
      detach();
      this.idle.delete(tunnel);
      call.end();
    };
    const detach = () => {
      call.off('data', onData);
      call.off('error', onError);
      call.off('end', onEnd);
    };
    call.on('data', onData);
    call.on('error', onError);
    call.on('end', onEnd);
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
      reconnectDelayMs(this.failures - 1),
    );
    this.refill.unref();
  }

  private reap(maxIdleMs: number): void {
    const now = Date.now();
    for (const tunnel of [...this.idle]) {
      if (this.idle.size <= this.options.idleTarget) {
        return;
      }
      if (now - tunnel.since > maxIdleMs) {
        this.idle.delete(tunnel);
        tunnel.call.cancel();
      }
    }
  }
}
