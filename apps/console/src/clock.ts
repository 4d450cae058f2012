/** The current time as a signal, ticking every 5 s, so that ages on screen stay right without re-reading anything. */
import { signal } from '@preact/signals';
import { age } from './format';

export const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 5_000);

/** How long ago `since` was (`5s`, `3m`, `2h`, `4d`), re-rendered as the clock ticks. */
export function ago(since: string | number | undefined): string {
  return age(since, now.value);
}
