import { Injectable } from '@nestjs/common';
import { SESSION_KINDS, type SessionKind } from '@grove/resources';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsRegistry } from './metrics-registry';

/*
 * What a user session is, for its metrics (issue 14): `exec` runs a command (the exec endpoints), `ssh` is a session
 * of the SSH gateway that runs a shell or command, or any tunnel to port 22; `vnc` a tunnel to port 5900 (the screen of
 * a VM, or of a worker host); `port-forward` every other tunnel (WebSocket port-forward or `ssh -J`/`-W` through the
 * gateway).
 */

/**
 * How a session ended: `ok` (closed by either side, a command that exited, whatever its status), `error` (cut by a
 * failure: the worker lost, a tunnel error, a command killed or never finished), `refused` (the request got an error
 * answer instead of a session: the VM missing, failed or not running in time, the worker unreachable, the port closed).
 */
export const SESSION_RESULTS = ['ok', 'error', 'refused'] as const;
export type SessionResult = (typeof SESSION_RESULTS)[number];

/** Bytes of a session as its audit record counts them: toward the VM (or worker host) and back. */
export interface SessionBytes {
  toTarget: number;
  fromTarget: number;
}

/** Counts the end of a session that `started`; later calls do nothing. */
export type SessionEnd = (result: Exclude<SessionResult, 'refused'>, bytes: SessionBytes) => void;

const SSH_PORT = 22;
const VNC_PORT = 5900;

/** The kind of a tunnel session by the port it reaches (undefined: the guest agent or a host process). */
export function tunnelSessionKind(port: number | undefined): SessionKind {
  return port === VNC_PORT ? 'vnc' : port === SSH_PORT ? 'ssh' : 'port-forward';
}

/** Seconds from `since` (a `performance.now()` reading) until now. */
function secondsSince(since: number): number {
  return Math.max(0, performance.now() - since) / 1000;
}

/**
 * Session metrics of this controller: the sessions that went through it (a session relayed to the replica holding the
 * worker's connection counts where the client connected). Bytes are added when a session ends, from the same numbers
 * as its audit record.
 */
@Injectable()
export class SessionMetrics {
  private readonly total: Counter<'kind' | 'result'>;
  private readonly active: Gauge<'kind'>;
  private readonly bytes: Counter<'kind' | 'direction'>;
  private readonly setup: Histogram<'kind'>;

  constructor(metrics: MetricsRegistry) {
    const registers = [metrics.registry];
    this.total = new Counter({
      name: 'grove_sessions_total',
      help: 'User sessions by kind (port-forward, exec, ssh, vnc) and result (ok, error, refused), counted when they end.',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.active = new Gauge({
      name: 'grove_sessions_active',
      help: 'User sessions in progress on this controller, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.bytes = new Counter({
      name: 'grove_session_bytes_total',
      help: 'Bytes moved by ended sessions, by kind and direction (to-target: toward the VM or worker host; from-target).',
      labelNames: ['kind', 'direction'],
      registers,
    });
    this.setup = new Histogram({
      name: 'grove_session_setup_seconds',
      help:
        'Time from a running VM found to the session established (a worker tunnel taken and the client accepted, or ' +
        'the command started), by kind.',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // Every series exists from the start, so that rates and sums see a zero rather than nothing.
    for (const kind of SESSION_KINDS) {
      this.active.set({ kind }, 0);
      this.setup.zero({ kind });
      for (const result of SESSION_RESULTS) {
        this.total.inc({ kind, result }, 0);
      }
      for (const direction of ['to-target', 'from-target']) {
        this.bytes.inc({ kind, direction }, 0);
      }
    }
  }

  /**
   * A session is established; its setup began at `setupStartedAt` (a `performance.now()` reading). Returns the function
   * that counts its end.
   */
  started(kind: SessionKind, setupStartedAt: number): SessionEnd {
    this.setup.observe({ kind }, secondsSince(setupStartedAt));
    this.active.inc({ kind });
    let ended = false;
    return (result, bytes) => {
      if (ended) {
        return;
      }
      ended = true;
      this.active.dec({ kind });
      this.total.inc({ kind, result });
      this.bytes.inc({ kind, direction: 'to-target' }, bytes.toTarget);
      this.bytes.inc({ kind, direction: 'from-target' }, bytes.fromTarget);
    };
  }

  /** A session request was answered with an error instead of a session. */
  refused(kind: SessionKind): void {
    this.total.inc({ kind, result: 'refused' });
  }

  /** Sessions in progress on this controller, by kind (`GET /v1/status`). */
  async activeByKind(): Promise<Record<SessionKind, number>> {
    const counts = Object.fromEntries(SESSION_KINDS.map((kind) => [kind, 0])) as Record<SessionKind, number>;
    for (const { labels, value } of (await this.active.get()).values) {
      counts[labels.kind as SessionKind] = value;
    }
    return counts;
  }
}
