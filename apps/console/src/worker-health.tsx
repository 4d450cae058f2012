/**
 * Says on a VM's page when its worker cannot be reached (issue 16: visible errors when a worker is unreachable): no
 * live session on any controller replica, or not seen for longer than Orchard's offline timeout.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { api, seg } from './api';
import { ago, now } from './clock';
import { startPolling } from './requests';
import { credentials } from './session';
import type { Worker } from './types';

const POLL_MS = 10_000;
/** Orchard's default offline timeout (libs/resources DEFAULT_WORKER_OFFLINE_TIMEOUT_MS, not bundled here). */
const OFFLINE_AFTER_MS = 3 * 60 * 1000;

/** Why the worker cannot be reached, or undefined when it can. */
export function workerProblem(worker: Worker, at: number): string | undefined {
  const seen = Date.parse(worker.last_seen);
  if (Number.isNaN(seen) || at - seen > OFFLINE_AFTER_MS) {
    return 'is offline';
  }
  if (!worker.session) {
    return 'has no session with the controller';
  }
  if (!worker.session.up) {
    return `lost its session (the controller replica ${worker.session.replica} holding it is gone)`;
  }
  return undefined;
}

export function WorkerHealth({ name }: { name: string }) {
  const worker = useSignal<Worker | undefined>(undefined);
  const missing = useSignal(false);
  const creds = credentials.value;
  useEffect(() => {
    if (!creds || !name) {
      return;
    }
    return startPolling(async () => {
      try {
        worker.value = await api<Worker>(creds, 'GET', `/v1/workers/${seg(name)}`);
        missing.value = false;
      } catch (err) {
        // A deleted worker is a problem to show; anything else (the controller unreachable) has its own banner.
        missing.value = (err as { status?: number }).status === 404;
      }
    }, POLL_MS);
  }, [creds, name]);

  if (missing.value) {
    return (
      <p class="banner banner-error" role="status">
        <span>Worker {name} no longer exists: the scheduler fails its VMs.</span>
      </p>
    );
  }
  const w = worker.value;
  const problem = w && workerProblem(w, now.value);
  if (!w || !problem) {
    return null;
  }
  return (
    <p class="banner banner-error" role="status">
      <span>
        Worker {name} {problem}; last seen {ago(w.last_seen)} ago. The VM's terminal, screen and ports cannot be
        reached, and changes wait, until it is back.
      </span>
    </p>
  );
}
