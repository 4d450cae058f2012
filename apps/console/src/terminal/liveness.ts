/**
 * Notices a connection that went silent without closing (a laptop that changed networks, a NAT that forgot the flow):
 * a browser reports such a WebSocket as open until TCP gives up, minutes later. After `idleMs` without a message the
 * owner sends a probe that the server must answer; no message within `timeoutMs` after it, and the connection is
 * declared dead.
 */
export class Liveness {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private probeSentAt: number | undefined;

  constructor(
    private readonly options: {
      /** Sends something the server answers (the exec WebSocket: `history`, answered by `no_more_history`). */
      probe: () => void;
      dead: () => void;
      idleMs?: number;
      timeoutMs?: number;
    },
  ) {}

  start(): void {
    this.lastHeard = Date.now();
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
  }

  /** A message arrived: the connection is alive. */
  heard(): void {
    this.lastHeard = Date.now();
    this.probeSentAt = undefined;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = Date.now();
    if (this.probeSentAt !== undefined) {
      if (now - this.probeSentAt >= (this.options.timeoutMs ?? PROBE_TIMEOUT_MS)) {
        this.stop();
        this.options.dead();
      }
      return;
    }
    if (now - this.lastHeard >= (this.options.idleMs ?? IDLE_MS)) {
      this.probeSentAt = now;
      this.options.probe();
    }
  }
}

const CHECK_EVERY_MS = 1000;
/** Silence before a probe: an idle shell sends nothing, so this is how often an idle connection is checked. */
const IDLE_MS = 15_000;
/** How long a probe may go unanswered: generous for a slow link, short enough for a user waiting for the prompt. */
const PROBE_TIMEOUT_MS = 10_000;
