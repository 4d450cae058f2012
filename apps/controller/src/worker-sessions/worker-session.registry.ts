import { Injectable } from '@nestjs/common';
import type { ControllerMessage } from '@grove/proto';
import { ClusterBus } from '../cluster/cluster-bus';
import { ReplicaRegistry } from '../cluster/replica-registry';

/** Cluster message: a ControllerMessage for a worker whose session another replica may hold. */
const WORKER_MESSAGE = 'worker-message';

/** A connected worker's session, as the rest of the controller sees it. */
export interface WorkerSessionHandle {
  workerName: string;
  connectedAt: Date;
  /** Secret the worker's Tunnel calls must present; binds them to this session. */
  sessionKey: string;
  /** Smallest ping round trip seen on this session, in ms; undefined until the first pong. */
  minRttMs: number | undefined;
  send(message: ControllerMessage): void;
  close(reason: string): void;
  /**
   * Resolves true once the worker answered a ping sent now, false when the session ends first: whether the worker is
   * still there (a raw link's FIN is a clean end only if it is, see TunnelLinkBroker). Absent in tests: alive.
   */
  probe?(): Promise<boolean>;
  /**
   * Whether the FIN that arrived on the raw link of tunnel session `session` is a clean end: true at once when the
   * worker announced it (LinkEnded), else as `probe`. Absent when the worker does not announce ends.
   */
  confirmLinkEnd?(session: string): Promise<boolean>;
}

/**
 * The workers connected to this controller. The newest session of a worker replaces (and closes) an older one: a
 * worker that reconnects after a network cut must not leave a half-dead stream in charge (Orchard issue #126). Each
 * session is also recorded in the replicas' shared registry, so that other replicas relay to this one.
 */
@Injectable()
export class WorkerSessionRegistry {
  private readonly sessions = new Map<string, WorkerSessionHandle>();
  private readonly removedListeners: ((session: WorkerSessionHandle) => void)[] = [];

  constructor(
    private readonly replicas: ReplicaRegistry,
    private readonly bus: ClusterBus,
  ) {
    bus.on(WORKER_MESSAGE, (message) => {
      this.notify(String(message['worker']), message['message'] as ControllerMessage);
    });
  }

  register(session: WorkerSessionHandle): void {
    const previous = this.sessions.get(session.workerName);
    this.sessions.set(session.workerName, session);
    this.replicas.recordSession(session.workerName, session.connectedAt);
    if (previous) {
      previous.close('replaced by a newer session of the same worker');
      this.emitRemoved(previous);
    }
  }

  /** Removes the session if it is still the current one (a replaced session must not remove its successor). */
  unregister(session: WorkerSessionHandle): void {
    if (this.sessions.get(session.workerName) === session) {
      this.sessions.delete(session.workerName);
      this.replicas.forgetSession(session.workerName);
      this.emitRemoved(session);
    }
  }

  /** Called with every session that stops being current (closed, dead or replaced). */
  onRemoved(listener: (session: WorkerSessionHandle) => void): void {
    this.removedListeners.push(listener);
  }

  isConnected(workerName: string): boolean {
    return this.sessions.has(workerName);
  }

  /** The worker's current session here, if any. */
  get(workerName: string): WorkerSessionHandle | undefined {
    return this.sessions.get(workerName);
  }

  /** Sends to the worker's session; false when the worker is not connected here. */
  notify(workerName: string, message: ControllerMessage): boolean {
    const session = this.sessions.get(workerName);
    if (!session) {
      return false;
    }
    session.send(message);
    return true;
  }

  /**
   * Sends to the worker wherever its session is: here, or through the other replicas (the one holding the session
   * delivers it). Used for nudges that the worker's periodic sync would catch up on anyway (SyncVms).
   */
  notifyAnywhere(workerName: string, message: ControllerMessage): void {
    if (!this.notify(workerName, message)) {
      this.bus.publish(WORKER_MESSAGE, { worker: workerName, message });
    }
  }

  /** Tells every connected worker to reconnect now (GoingAway); returns how many were told. */
  announceGoingAway(reason: string): number {
    for (const session of this.sessions.values()) {
      session.send({ going_away: { reason } });
    }
    return this.sessions.size;
  }

  closeAll(reason: string): void {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of sessions) {
      session.close(reason);
      this.emitRemoved(session);
    }
  }

  private emitRemoved(session: WorkerSessionHandle): void {
    for (const listener of this.removedListeners) {
      listener(session);
    }
  }
}
