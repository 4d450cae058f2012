import type { WorkerSession } from './worker-session';

/** What `/healthz` says: the session with the controller is up (since when), or why not. */
export type SessionHealthState = { up: true; since: Date } | { up: false; reason: string };

/**
 * Follows the worker's session with the controller for `/healthz` (issue 14): up from the controller's Welcome until
 * the session ends, with the reason it ended (or could not open) otherwise. A worker that runs but has no session is
 * the state operators most need to see (ARCHITECTURE.md decision 4: "no worker registered with this name" while the
 * worker looks healthy).
 */
export class SessionHealth {
  private state: SessionHealthState = { up: false, reason: 'no session with the controller yet' };

  constructor(private readonly session: WorkerSession) {
    session.on('connected', () => (this.state = { up: true, since: new Date() }));
    session.on('disconnected', (reason: string) => (this.state = { up: false, reason }));
  }

  get current(): SessionHealthState {
    // A stopping session ends without a `disconnected` event.
    return this.session.isStopped ? { up: false, reason: 'the worker is stopping' } : this.state;
  }
}
