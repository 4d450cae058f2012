import { timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import { status as GrpcStatus, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { TunnelFrame } from '@grove/proto';
import { RelayClient, type RelayCall } from '../cluster/relay-client';
import { ReplicaRegistry } from '../cluster/replica-registry';
import { WorkerSessionRegistry } from './worker-session.registry';

/** A worker's Tunnel call, as the controller's gRPC server sees it. */
export type TunnelCall = ServerDuplexStream<TunnelFrame | undefined, TunnelFrame>;

/**
 * What a user session runs over: a tunnel of a worker connected here, or a relay to the replica that holds the
 * worker's session (the frames are the same either way).
 */
export type TunnelLink = TunnelCall | RelayCall;

/** While a worker is connected nowhere, how often a waiting session looks again (here and in the registry). */
const LOOKUP_INTERVAL_MS = 250;

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
  /** Tunnels handed to user sessions, by the session key of the worker session they ride on. */
  private readonly busy = new Map<string, Set<TunnelCall>>();

  constructor(
    private readonly registry: WorkerSessionRegistry,
    private readonly replicas: ReplicaRegistry,
    private readonly relays: RelayClient,
  ) {
    registry.onRemoved((session) => this.retire(session.workerName, session.sessionKey));
  }

  /**
   * A tunnel to the worker for one session, wherever the worker is connected: one of its idle tunnels when its
   * session is here, else a relay through the replica that holds it (ARCHITECTURE.md decision 8). While the worker is
   * connected nowhere, waits up to `timeoutMs` for it to come back; throws TunnelUnavailableError when it does not.
   */
  async take(workerName: string, timeoutMs: number, signal?: AbortSignal): Promise<TunnelLink> {
    const deadline = Date.now() + timeoutMs;
    let relayError: string | undefined;
    for (;;) {
      if (this.registry.isConnected(workerName)) {
        return this.takeLocal(workerName, Math.max(deadline - Date.now(), 0), signal);
      }
      try {
        const relayed = await this.relayed(workerName, deadline, signal);
        if (relayed) {
          return relayed;
        }
      } catch (err) {
        relayError = (err as Error).message;
      }
      const left = deadline - Date.now();
      if (signal?.aborted) {
        throw new TunnelUnavailableError('the request was cancelled');
      }
      if (left <= 0) {
        throw new TunnelUnavailableError(
          relayError
            ? `worker "${workerName}" could not be reached through another controller replica: ${relayError}`
            : `worker "${workerName}" is not connected to the controller`,
        );
      }
      await sleep(Math.min(left, LOOKUP_INTERVAL_MS), undefined, { signal }).catch(() => undefined);
    }
  }

  /**
   * A relay to the replica holding the worker's session, once that replica has taken a tunnel of the worker (it
   * answers with its headers then); undefined when no other live replica holds the session. Throws with the other
   * replica's reason when it could not serve the relay.
   */
  private async relayed(workerName: string, deadline: number, signal?: AbortSignal): Promise<RelayCall | undefined> {
    const location = await this.replicas.locate(workerName);
    if (!location?.up || location.replica === this.replicas.name || location.relayAddress === '') {
      return undefined;
    }
    const call = this.relays.openTunnel(location.relayAddress, workerName);
    // The call may fail at any time until its last event: between this answer and the session's own handlers, or after
    // they have let go of it, as when this replica shuts down and closes its relay clients. An 'error' event without a
    // listener would end the process; the session learns of failures through its own listeners while it has them.
    call.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        call.off('metadata', onMetadata);
        call.off('error', onError);
        if (err) {
          call.cancel();
          reject(err);
        } else {
          resolve();
        }
      };
      const onMetadata = () => done();
      const onError = (err: ServiceError) => done(new Error(err.details || err.message));
      const onAbort = () => done(new Error('the request was cancelled'));
      const timer = setTimeout(
        () => done(new Error(`replica "${location.replica}" did not answer in time`)),
        Math.max(deadline - Date.now(), 1000),
      );
      call.once('metadata', onMetadata);
      call.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return call;
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
      this.markBusy(call, key);
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
   * An idle tunnel of a worker connected to this replica (never a relay: the relay server takes tunnels here, so relays
   * never chain). Waits up to `timeoutMs` (or until `signal` aborts) for one when
   * none is parked, asking the worker to open more; throws TunnelUnavailableError when none came.
   */
  takeLocal(workerName: string, timeoutMs: number, signal?: AbortSignal): Promise<TunnelCall> {
    const tunnels = this.idle.get(workerName);
    for (const entry of tunnels ?? []) {
      entry.forget();
      if (!entry.call.cancelled && !entry.call.destroyed) {
        this.markBusy(entry.call, entry.sessionKey);
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

  /**
   * Fails the tunnels in use on a worker session that died (no answer to its pings): their HTTP/2 connection may stay
   * up for a while (a frozen worker still holds it open), and the users must learn now, with an error — never a clean
   * end that looks like success. A session that was replaced or told to go away keeps its tunnels in use: they finish
   * on the old connection.
   */
  abortInUse(sessionKey: string, reason: string): number {
    const calls = [...(this.busy.get(sessionKey) ?? [])];
    this.busy.delete(sessionKey);
    for (const call of calls) {
      call.emit('error', { code: GrpcStatus.UNAVAILABLE, details: reason });
    }
    return calls.length;
  }

  private markBusy(call: TunnelCall, sessionKey: string): void {
    let calls = this.busy.get(sessionKey);
    if (!calls) {
      calls = new Set();
      this.busy.set(sessionKey, calls);
    }
    const set = calls;
    set.add(call);
    const done = () => {
      set.delete(call);
      if (set.size === 0 && this.busy.get(sessionKey) === set) {
        this.busy.delete(sessionKey);
      }
    };
    call.once('close', done);
    call.once('cancelled', done);
    call.once('finish', done);
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
