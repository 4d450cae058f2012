import { reconnectDelayMs } from './backoff';

describe('reconnect back-off', () => {
  it('grows exponentially, stays within half to all of the ceiling, and caps at 30 s', () => {
    expect(reconnectDelayMs(0, () => 0)).toBe(250);
    expect(reconnectDelayMs(0, () => 1)).toBe(500);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(3000);
    expect(reconnectDelayMs(20, () => 1)).toBe(30_000);
    expect(reconnectDelayMs(20, () => 0)).toBe(15_000);
  });
});
