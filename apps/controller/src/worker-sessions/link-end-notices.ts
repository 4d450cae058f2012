/** How many announced ends are remembered before their FIN arrives (the oldest are dropped past this). */
const MAX_REMEMBERED = 1024;
/** How long a link's FIN waits for its announcement before the worker is probed instead. */
const NOTICE_GRACE_MS = 2_000;

/**
 * The clean ends of raw links that a worker announced on its session (LinkEnded, session capability
 * "link-end-notice"), matched with the FINs that arrive on the links: a FIN whose end was announced is a clean end,
 * without the Ping round trip that tells it from a killed worker's (docs/tunnels.md "Raw byte streams"). The
 * announcement and the FIN travel on different connections, so either may come first. A FIN that waits
 * {@link NOTICE_GRACE_MS} without one falls back to the probe; the end of the worker's session settles every wait
 * with false (its FINs were the kill's).
 */
export class LinkEndNotices {
  private readonly announced = new Set<string>();
  private readonly waiting = new Map<string, (clean: boolean) => void>();
  private closed = false;

  constructor(private readonly probe: () => Promise<boolean>) {}

  /** The worker announced the clean end of the link of tunnel session `session`. */
  announce(session: string): void {
    const waiter = this.waiting.get(session);
    if (waiter) {
      waiter(true);
      return;
    }
    this.announced.add(session);
    if (this.announced.size > MAX_REMEMBERED) {
      // Sets keep insertion order: the first is the oldest.
      this.announced.delete(this.announced.values().next().value!);
    }
  }

  /** Whether the FIN that arrived on the link of `session` is a clean end. */
  confirm(session: string): Promise<boolean> {
    if (this.announced.delete(session)) {
      return Promise.resolve(true);
    }
    if (this.closed) {
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(session);
        this.probe().then(resolve, () => resolve(false));
      }, NOTICE_GRACE_MS);
      timer.unref();
      this.waiting.set(session, (clean) => {
        clearTimeout(timer);
        this.waiting.delete(session);
        resolve(clean);
      });
    });
  }

  /** The worker's session ended: FINs still waiting were not announced, and none will be. */
  close(): void {
    this.closed = true;
    this.announced.clear();
    for (const waiter of [...this.waiting.values()]) {
      waiter(false);
    }
  }
}
