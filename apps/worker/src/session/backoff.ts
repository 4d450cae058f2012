/**
 * How long a worker waits before it tries to open a session again (issue 11, "fast reconnect"), as a pure function of
 * how the last attempt ended. The goal: every worker has a session again within 2 s of the controller answering
 * (p99 ≤ 5 s over a fleet of 500) without a thundering herd. The reasoning, case by case:
 * - Nothing answered (connection refused or reset, gRPC UNAVAILABLE, a gateway saying the controller is down): retry
 *   on a short period drawn from 0.5–1.5 s for as long as that lasts. A refused connect costs the controller's host
 *   next to nothing, and the draw spreads the fleet: after the first retry, each worker's attempts fall at independent
 *   random times, so a controller that comes back sees about one attempt per worker per second, spread evenly, and
 *   each worker is back at most 1.5 s (plus its register and connect) after the controller answers.
 * - The controller answered with an error (HTTP 4xx/5xx, authentication, TLS, a timeout, a session refused before its
 *   Welcome): exponential back-off from 0.5 s to 30 s with jitter, as before; a controller that answers is not
 *   helped by being asked again at once.
 * - HTTP 503 with `Retry-After` (the controller's database is down): wait that long, plus up to half again so that
 *   the fleet does not come back in one instant; at least 0.5 s, at most 30 s in all. The back-off state is kept.
 * - A session that was up for a while and then ended (the controller died, the network broke, the controller closed
 *   it): the back-off starts over, with the short period for the first attempt. A session shorter than
 *   STABLE_SESSION_MS counts as a failed attempt instead, so that a controller that welcomes and then drops a worker
 *   (or two workers fighting over one name) is not hit in a tight loop.
 * - The controller's shutdown notice (GoingAway): reconnect at once, with up to 250 ms of jitter, and start the
 *   back-off over.
 */
export type SessionOutcome =
  | { kind: 'goingAway' }
  | { kind: 'sessionEnded'; lastedMs: number }
  | { kind: 'unreachable' }
  | { kind: 'retryAfter'; seconds: number }
  | { kind: 'refused' };

/** What the policy remembers between attempts. */
export interface ReconnectState {
  /** Consecutive attempts that the controller answered without a lasting session. */
  failures: number;
}

export const INITIAL_RECONNECT_STATE: ReconnectState = { failures: 0 };

/** A session up at least this long proved that the controller accepts this worker. */
export const STABLE_SESSION_MS = 10_000;
/** The retry period while nothing answers, drawn anew for every attempt. */
export const UNREACHABLE_RETRY_MS = { min: 500, max: 1500 } as const;
/** Jitter before a new session after the controller's shutdown notice. */
export const GOING_AWAY_JITTER_MS = 250;
export const MAX_BACKOFF_MS = 30_000;
const MIN_RETRY_AFTER_MS = 500;

/** The delay before the next attempt, and the state to pass to the call after it. */
export function nextReconnect(
  state: ReconnectState,
  outcome: SessionOutcome,
  random: () => number = Math.random,
): { delayMs: number; state: ReconnectState } {
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  switch (outcome.kind) {
    case 'goingAway':
      return { delayMs: between(0, GOING_AWAY_JITTER_MS), state: INITIAL_RECONNECT_STATE };
    case 'sessionEnded':
      if (outcome.lastedMs >= STABLE_SESSION_MS) {
        return { delayMs: between(UNREACHABLE_RETRY_MS.min, UNREACHABLE_RETRY_MS.max), state: INITIAL_RECONNECT_STATE };
      }
      return backOff(state, random);
    case 'unreachable':
      return { delayMs: between(UNREACHABLE_RETRY_MS.min, UNREACHABLE_RETRY_MS.max), state };
    case 'retryAfter': {
      // Capped so that the jitter on top stays within MAX_BACKOFF_MS.
      const asked = Math.min(MAX_BACKOFF_MS / 1.5, Math.max(MIN_RETRY_AFTER_MS, outcome.seconds * 1000));
      return { delayMs: between(asked, asked * 1.5), state };
    }
    case 'refused':
      return backOff(state, random);
  }
}

function backOff(state: ReconnectState, random: () => number): { delayMs: number; state: ReconnectState } {
  return { delayMs: reconnectDelayMs(state.failures, random), state: { failures: state.failures + 1 } };
}

/**
 * Delay before back-off attempt `attempt` (0-based): exponential from 500 ms to 30 s with jitter between half and all
 * of the ceiling, so that a fleet of workers refused together does not retry in lock-step (ARCHITECTURE.md decision 4).
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
