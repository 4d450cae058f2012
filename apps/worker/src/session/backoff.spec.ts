import {
  INITIAL_RECONNECT_STATE,
  nextReconnect,
  reconnectDelayMs,
  STABLE_SESSION_MS,
  type ReconnectState,
  type SessionOutcome,
} from './backoff';

const low = () => 0;
const high = () => 1;

/** The delays of a run of outcomes, starting from the initial state. */
function delays(outcomes: SessionOutcome[], random: () => number): number[] {
  let state: ReconnectState = INITIAL_RECONNECT_STATE;
  return outcomes.map((outcome) => {
    const next = nextReconnect(state, outcome, random);
    state = next.state;
    return next.delayMs;
  });
}

describe('reconnect back-off', () => {
  it('grows exponentially, stays within half to all of the ceiling, and caps at 30 s', () => {
    expect(reconnectDelayMs(0, () => 0)).toBe(250);
    expect(reconnectDelayMs(0, () => 1)).toBe(500);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(3000);
    expect(reconnectDelayMs(20, () => 1)).toBe(30_000);
    expect(reconnectDelayMs(20, () => 0)).toBe(15_000);
  });
});

describe('reconnect policy', () => {
  const refused: SessionOutcome = { kind: 'refused' };
  const unreachable: SessionOutcome = { kind: 'unreachable' };

  it('retries every 0.5–1.5 s for as long as nothing answers, however long that lasts', () => {
    const outcomes = Array.from({ length: 100 }, () => unreachable);
    expect(new Set(delays(outcomes, low))).toEqual(new Set([500]));
    expect(new Set(delays(outcomes, high))).toEqual(new Set([1500]));
  });

  it('backs off exponentially while the controller answers with errors', () => {
    expect(delays([refused, refused, refused, refused], high)).toEqual([500, 1000, 2000, 4000]);
    expect(
      delays(
        Array.from({ length: 12 }, () => refused),
        high,
      ).at(-1),
    ).toBe(30_000);
  });

  it('keeps the back-off across an outage in between, so that a failing controller is not hammered', () => {
    expect(delays([refused, refused, unreachable, unreachable, refused], high)).toEqual([500, 1000, 1500, 1500, 2000]);
  });

  it('waits about as long as Retry-After asks, never less, within 0.5–30 s', () => {
    const retryAfter = (seconds: number): SessionOutcome => ({ kind: 'retryAfter', seconds });
    expect(delays([retryAfter(2)], low)).toEqual([2000]);
    expect(delays([retryAfter(2)], high)).toEqual([3000]);
    expect(delays([retryAfter(0)], low)).toEqual([500]);
    expect(delays([retryAfter(3600)], high)).toEqual([30_000]);
    // It does not count as a failure of its own.
    expect(delays([refused, retryAfter(1), refused], high)).toEqual([500, 1500, 1000]);
  });

  it('starts over after a session that lasted, and after the controller’s shutdown notice', () => {
    const lasted: SessionOutcome = { kind: 'sessionEnded', lastedMs: STABLE_SESSION_MS };
    const goingAway: SessionOutcome = { kind: 'goingAway' };
    expect(delays([refused, refused, refused, lasted, refused], high)).toEqual([500, 1000, 2000, 1500, 500]);
    expect(delays([refused, refused, refused, goingAway, refused], high)).toEqual([500, 1000, 2000, 250, 500]);
    expect(delays([goingAway], low)).toEqual([0]);
  });

  it('counts a session dropped right after its Welcome as a failure, so that a flapping session backs off', () => {
    const brief: SessionOutcome = { kind: 'sessionEnded', lastedMs: 200 };
    expect(delays([brief, brief, brief, brief, brief], high)).toEqual([500, 1000, 2000, 4000, 8000]);
  });

  it('spreads a fleet cut off together over the retry period', () => {
    // 500 workers lose the controller at once; where do their attempts fall in the 10th second of the outage?
    const random = seeded(42);
    const perWorker = Array.from({ length: 500 }, () => {
      let at = 0;
      const attempts: number[] = [];
      while (at < 10_000) {
        at += nextReconnect(INITIAL_RECONNECT_STATE, unreachable, random).delayMs;
        attempts.push(at);
      }
      return attempts;
    });
    const buckets = new Array<number>(10).fill(0);
    for (const at of perWorker.flat().filter((t) => t >= 9000 && t < 10_000)) {
      buckets[Math.floor((at - 9000) / 100)]++;
    }
    // About 50 attempts per 100 ms slot, never a herd.
    expect(Math.max(...buckets)).toBeLessThan(90);
    expect(Math.min(...buckets)).toBeGreaterThan(20);
  });
});

/** A small deterministic generator (mulberry32), so that the spread test is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
