import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { WORKER_LINK_PROTOCOL } from '@grove/client';
import { configureTunnelSocket } from '@grove/tunnel';
import { answerUpgradeError } from '../tunnels/websocket-upgrade';
import { WorkerSessionRegistry, type WorkerSessionHandle } from './worker-session.registry';

/** A worker link in use: how to end its session when the worker's session ends. */
export interface BusyLink {
  socket: Socket;
  /** Ends the session riding on the link with the reason (the worker is gone). */
  lost(message: string): void;
}

/** The path of a worker's link upgrade (under the API's `/v1/`). */
const LINK_PATH = /^\/v1\/workers\/([^/?]+)\/tunnel-link(?:\?|$)/;

/** A link a session took: its socket, how to check the worker's end of data, and its release when the session ends. */
export interface TakenLink {
  socket: Socket;
  confirmEnd: () => Promise<boolean>;
  release: () => void;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The workers' idle raw links (docs/tunnels.md "Raw byte streams"): TCP connections each worker opens ahead of time,
 * as it does its idle Tunnel streams, for sessions that move bytes without framing. A link belongs to the worker
 * session whose key it presented, and only the replica holding that session parks it. A session takes one if there
 * is one (`take` never waits: without a link, the session uses a gRPC tunnel). When the worker's session ends, its
 * idle links are closed; when it died (no answer to pings), the sessions on its busy links end with
 * `the connection to the worker was lost`, as on its Tunnel streams.
 */
@Injectable()
export class TunnelLinkBroker implements OnApplicationShutdown {
  private readonly idle = new Map<string, Map<Socket, string>>();
  private readonly busy = new Map<string, Set<BusyLink>>();

  constructor(private readonly registry: WorkerSessionRegistry) {
    registry.onRemoved((session) => this.retire(session));
  }

  /** Idle links parked for a worker (for tests and diagnostics). */
  idleCount(workerName: string): number {
    return this.idle.get(workerName)?.size ?? 0;
  }

  /**
   * `GET /v1/workers/{name}/tunnel-link` with `Upgrade: grove-worker-link/1`, taken before the HTTP routing (every
   * port-forward session makes the worker open one): the session key from `Welcome` is the credential, as for the
   * worker's Tunnel streams (only the worker's authenticated session received it). Parks the link when the key is the
   * one of the worker's session held by this replica; `409` otherwise (another replica holds it, or it ended: the
   * worker opens it again). Returns false for any other request, which the routing then answers.
   */
  interceptUpgrade(request: IncomingMessage, stream: Duplex): boolean {
    if (request.headers.upgrade?.toLowerCase() !== WORKER_LINK_PROTOCOL) {
      return false;
    }
    const match = LINK_PATH.exec(request.url ?? '');
    if (!match) {
      return false;
    }
    const socket = stream as Socket;
    socket.on('error', () => undefined);
    let workerName: string;
    try {
      workerName = decodeURIComponent(match[1]);
    } catch {
      workerName = '';
    }
    const key = request.headers['x-grove-session-key'];
    const session = this.registry.get(workerName);
    if (typeof key !== 'string' || session === undefined || !sameSecret(session.sessionKey, key)) {
      answerUpgradeError(socket, 409, {
        message: `this controller does not hold the session of worker "${workerName}" that the link names`,
      });
      return true;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${WORKER_LINK_PROTOCOL}\r\n\r\n`);
    if (socket.readableLength > 0) {
      // A link carries nothing before its open header (bytes behind the request are back in the socket).
      socket.destroy();
      return true;
    }
    this.park(workerName, key, socket);
    return true;
  }

  /** Parks an upgraded link until a session takes it or it closes. */
  private park(workerName: string, sessionKey: string, socket: Socket): void {
    // Half-closes travel end to end: an HTTPS server's sockets are not half-open by default (an HTTP one's are).
    socket.allowHalfOpen = true;
    configureTunnelSocket(socket);
    let links = this.idle.get(workerName);
    if (!links) {
      links = new Map();
      this.idle.set(workerName, links);
    }
    links.set(socket, sessionKey);
    // An idle link carries nothing: whatever ends it (the worker's close, a reset, a half-close) just forgets it.
    const forget = () => {
      if (links.delete(socket) && links.size === 0 && this.idle.get(workerName) === links) {
        this.idle.delete(workerName);
      }
      socket.destroy();
    };
    socket.once('close', forget);
    socket.once('end', forget);
    socket.once('error', forget);
    (socket as Socket & { forgetIdle?: () => void }).forgetIdle = () => {
      socket.off('close', forget);
      socket.off('end', forget);
      socket.off('error', forget);
    };
  }

  /**
   * An idle link of the worker's current session, now busy, for tunnel session `tunnelSession`; undefined when there is
   * none. `lost` is called if the worker's session ends while the link is in use; `release` must be called when the
   * session on it ends.
   */
  take(workerName: string, tunnelSession: string, lost: (message: string) => void): TakenLink | undefined {
    const session = this.registry.get(workerName);
    const links = this.idle.get(workerName);
    if (!session || !links) {
      return undefined;
    }
    for (const [socket, key] of links) {
      links.delete(socket);
      (socket as Socket & { forgetIdle?: () => void }).forgetIdle?.();
      if (socket.destroyed || key !== session.sessionKey) {
        socket.destroy();
        continue;
      }
      if (links.size === 0) {
        this.idle.delete(workerName);
      }
      const busy: BusyLink = { socket, lost };
      let set = this.busy.get(key);
      if (!set) {
        set = new Set();
        this.busy.set(key, set);
      }
      set.add(busy);
      const owner = set;
      return {
        socket,
        // The worker's end of data is a clean end only while its session lives (a killed worker's sockets send FINs):
        // announced by the worker (LinkEnded), or else confirmed with a ping.
        confirmEnd: () =>
          this.registry.get(workerName) === session
            ? (session.confirmLinkEnd?.(tunnelSession) ?? session.probe?.() ?? Promise.resolve(true))
            : Promise.resolve(false),
        release: () => {
          owner.delete(busy);
          if (owner.size === 0 && this.busy.get(key) === owner) {
            this.busy.delete(key);
          }
        },
      };
    }
    return undefined;
  }

  onApplicationShutdown(): void {
    for (const links of this.idle.values()) {
      for (const socket of links.keys()) {
        socket.destroy();
      }
    }
    this.idle.clear();
  }

  /**
   * Ends the sessions on the busy links of a worker session that died (no answer to its pings: a frozen worker keeps
   * its sockets open); returns how many. A session that was replaced or went away keeps them: they finish as they are.
   */
  abortInUse(sessionKey: string, reason: string): number {
    const busy = [...(this.busy.get(sessionKey) ?? [])];
    this.busy.delete(sessionKey);
    for (const link of busy) {
      link.lost(reason);
    }
    return busy.length;
  }

  private retire(session: WorkerSessionHandle): void {
    const links = this.idle.get(session.workerName);
    for (const [socket, key] of [...(links ?? [])]) {
      if (key === session.sessionKey) {
        socket.destroy();
      }
    }
  }
}
