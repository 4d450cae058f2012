import { timingSafeEqual } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { TunnelFrame } from '@grove/proto';
import { WorkerSessionRegistry } from './worker-session.registry';

/** A worker's Tunnel call, as the controller's gRPC server sees it. */
export type TunnelCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;

/** No idle tunnel of the worker became available in time. */
export class TunnelUnavailableError extends Error {}

interface IdleTunnel {
  call: TunnelCall;
  sessionKey: string;
  forget: () => void;
}

interface Waiter {
  resolve: (call: TunnelCall) => void;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Parks the idle Tunnel streams workers open ahead of time and hands one to each user session (the GitLab agent's
 * design, tunnels.md §1.3–1.4): a session starts with one frame on a stream that already exists, never with a
 * dial-back. When a worker has no idle stream left, the session waits and the worker is asked for more.
 */
@Injectable()
export class TunnelBroker {
  private readonly logger = new Logger(TunnelBroker.name);
  private readonly idle = new Map<string, Set<IdleTunnel>>();
  private readonly waiting = new Map<string, Waiter[]>();

  constructor(private readonly registry: WorkerSessionRegistry) {
    registry.onRemoved((session) => this.retire(session.workerName, session.sessionKey));
  }

  /** Takes a new Tunnel call: checks that it belongs to the worker's live session, then parks it or uses it. */
  accept(call: TunnelCall): void {
    const name = String(call.metadata.get('x-grove-worker-name')[0] ?? '');
    const key = String(call.metadata.get('x-grove-session-key')[0] ?? '');
    const session = this.registry.get(name);
    if (!session || !sameSecret(session.sessionKey, key)) {
      call.emit('error', {
        code: GrpcStatus.FAILED_PRECONDITION,
        details: `no live session of worker "${name}" with this session key`,
      });
      return;
    }
    const waiter = this.waiting.get(name)?.shift();
    if (waiter) {
      waiter.resolve(call);
      return;
    }
    let tunnels = this.idle.get(name);
    if (!tunnels) {
      tunnels = new Set();
      this.idle.set(name, tunnels);
    }
    const set = tunnels;
    const entry: IdleTunnel = {
      call,
      sessionKey: key,
      forget: () => {
        set.delete(entry);
        call.off('cancelled', entry.forget);
        call.off('error', entry.forget);
        call.off('end', entry.forget);
      },
    };
    call.once('cancelled', entry.forget);
    call.once('error', entry.forget);
    call.once('end', entry.forget);
    // The worker sends nothing on an idle tunnel; reading keeps 'end' observable.
    call.resume();
    set.add(entry);
  }

  /** Idle tunnels parked for a worker (for tests and diagnostics). */
  idleCount(workerName: string): number {
    return this.idle.get(workerName)?.size ?? 0;
  }

  /**
   * An idle tunnel of the worker for one session. Waits up to `timeoutMs` (or until `signal` aborts) for one when
   * none is parked, asking the worker to open more; throws TunnelUnavailableError when none came.
   */
  take(workerName: string, timeoutMs: number, signal?: AbortSignal): Promise<TunnelCall> {
    const tunnels = this.idle.get(workerName);
    for (const entry of tunnels ?? []) {
      entry.forget();
      if (!entry.call.cancelled && !entry.call.destroyed) {
        return Promise.resolve(entry.call);
      }
    }
    this.registry.notify(workerName, { open_tunnels: { count: 1 } });
    return new Promise<TunnelCall>((resolve, reject) => {
      const queue = this.waiting.get(workerName) ?? [];
      this.waiting.set(workerName, queue);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = queue.indexOf(waiter);
        if (at >= 0) {
          queue.splice(at, 1);
        }
      };
      const waiter: Waiter = {
        resolve: (call) => {
          done();
          resolve(call);
        },
      };
      const fail = (message: string) => {
        done();
        reject(new TunnelUnavailableError(message));
      };
      const onAbort = () => fail('the request was cancelled');
      const timer = setTimeout(
        () =>
          fail(
            this.registry.isConnected(workerName)
              ? `worker "${workerName}" opened no tunnel within ${(timeoutMs / 1000).toFixed(1)} s`
              : `worker "${workerName}" is not connected to the controller`,
          ),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  /** Ends the idle tunnels of a worker session that is no longer current. */
  private retire(workerName: string, sessionKey: string): void {
    const tunnels = this.idle.get(workerName);
    let retired = 0;
    for (const entry of [...(tunnels ?? [])]) {
      if (entry.sessionKey === sessionKey) {
        entry.forget();
        entry.call.end();
        retired++;
      }
    }
    if (tunnels?.size === 0) {
      this.idle.delete(workerName);
    }
    if (retired > 0) {
      this.logger.debug?.(`retired ${retired} idle tunnels of worker "${workerName}"`);
    }
  }

  /** Ends every idle tunnel (controller shutdown). */
  closeAll(): void {
    for (const tunnels of this.idle.values()) {
      for (const entry of [...tunnels]) {
        entry.forget();
        entry.call.end();
      }
    }
    this.idle.clear();
  }
}
