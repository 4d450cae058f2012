/** Largest `detachTimeout` in seconds (one day). */
export const MAX_DETACH_TIMEOUT_SECONDS = 86_400;

/**
 * Grove's opt-in `detachTimeout` of a reconnectable exec session (docs/exec.md): once no socket has been attached for
 * the timeout, `expire` runs (the session closes as a `close` frame would). Orchard keeps a running session without
 * sockets until the VM stops, so a browser tab that vanished would leave its shell running; the timer lives in the
 * session, on the replica that runs it, so reaching it through another replica changes nothing.
 */
export class ExecDetachTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly expire: () => void,
  ) {}

  /** The last socket went (or none attached yet): the countdown starts again from the full timeout. */
  start(): void {
    this.stop();
    this.timer = setTimeout(this.expire, this.timeoutMs);
    // A session's timer alone must not keep the controller running.
    this.timer.unref();
  }

  /** A socket attached in time, or the session closed. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
