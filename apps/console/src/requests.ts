/** How the console's pages run their requests: a button's action, and a poll that stops with its page. */
import type { Signal } from '@preact/signals';
import type { Credentials } from './api';
import { describeError } from './errors';
import { credentials } from './session';

/** The state a button's request shows: disabled while it runs, and why it failed. */
export interface ActionState {
  busy: Signal<boolean>;
  error: Signal<string>;
}

/**
 * Runs `work` with the signed-in account's credentials (nothing when signed out): `busy` while it runs, its failure
 * as a sentence in `error` (cleared first).
 */
export async function runAction(state: ActionState, work: (creds: Credentials) => Promise<void>): Promise<void> {
  const creds = credentials.value;
  if (!creds) {
    return;
  }
  state.busy.value = true;
  state.error.value = '';
  try {
    await work(creds);
  } catch (err) {
    state.error.value = describeError(err);
  } finally {
    state.busy.value = false;
  }
}

/**
 * Runs `step` now and again `everyMs` after each run ends (never two at once) until the returned function is called.
 * `step` handles its own errors; `stopped()` tells it whether the poll ended while it waited for an answer.
 */
export function startPolling(step: (stopped: () => boolean) => Promise<void>, everyMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    await step(() => stopped);
    if (!stopped) {
      timer = setTimeout(() => void run(), everyMs);
    }
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
