import { Injectable } from '@nestjs/common';
import type { ControllerMessage } from '@grove/proto';

/** A connected worker's session, as the rest of the controller sees it. */
export interface WorkerSessionHandle {
  workerName: string;
  connectedAt: Date;
  send(message: ControllerMessage): void;
  close(reason: string): void;
}

/**
 * The workers connected to this controller. The newest session of a worker replaces (and closes) an older one: a
 * worker that reconnects after a network cut must not leave a half-dead stream in charge (Orchard issue #126).
 */
@Injectable()
export class WorkerSessionRegistry {
  private readonly sessions = new Map<string, WorkerSessionHandle>();

  register(session: WorkerSessionHandle): void {
    const previous = this.sessions.get(session.workerName);
    this.sessions.set(session.workerName, session);
    previous?.close('replaced by a newer session of the same worker');
  }

  /** Removes the session if it is still the current one (a replaced session must not remove its successor). */
  unregister(session: WorkerSessionHandle): void {
    if (this.sessions.get(session.workerName) === session) {
      this.sessions.delete(session.workerName);
    }
  }

  isConnected(workerName: string): boolean {
    return this.sessions.has(workerName);
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

  closeAll(reason: string): void {
    for (const session of [...this.sessions.values()]) {
      session.close(reason);
    }
    this.sessions.clear();
  }
}
