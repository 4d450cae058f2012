import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * How long a pass may run before it lets the event loop serve others (issue 13: no pass blocks it for more than 20 ms;
 * a step between two checks of the clock is far shorter).
 */
export const SLICE_MS = 10;

/**
 * Runs a computation written as a generator (each `yield` is a point where it may pause) to its end, letting the event
 * loop run whenever a slice of `sliceMs` is used up; resolves with what the generator returns.
 */
export async function runSliced<T>(steps: Generator<void, T, void>, sliceMs = SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) {
      return step.value;
    }
    if (performance.now() - sliceStart >= sliceMs) {
      await nextTurn();
      sliceStart = performance.now();
    }
  }
}

/** Lets the event loop run when the slice that started at `since` is used up; returns when the next slice starts. */
export async function pauseIfDue(since: number, sliceMs = SLICE_MS): Promise<number> {
  if (performance.now() - since < sliceMs) {
    return since;
  }
  await nextTurn();
  return performance.now();
}
