/**
 * Delay before reconnect attempt `attempt` (0-based): exponential from 500 ms to 30 s with full jitter, so that a
 * fleet of workers cut off together does not reconnect in lock-step (ARCHITECTURE.md decision 4).
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
