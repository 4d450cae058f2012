import type { Architecture, Runtime } from './enums';
import type { Labels, Resources } from './vm';

/** A worker as the REST API serialises it (orchard.md §2.4). */
export interface Worker {
  name: string;
  createdAt: string;
  last_seen: string;
  machine_id: string;
  scheduling_paused: boolean;
  resources: Resources;
  labels: Labels;
  defaultCPU: number;
  defaultMemory: number;
  arch: Architecture;
  runtime: Runtime;
  /**
   * Grove only, read-only: the controller replica that holds (or last held) the worker's gRPC session. `up` is false
   * when that replica is gone; absent when the worker has no session anywhere.
   */
  session?: WorkerSessionInfo;
}

/** Where a worker's session is held (docs/high-availability.md). */
export interface WorkerSessionInfo {
  replica: string;
  connected_at: string;
  up: boolean;
}

/** Orchard's default offline timeout: a worker unseen for longer is offline. */
export const DEFAULT_WORKER_OFFLINE_TIMEOUT_MS = 3 * 60 * 1000;

export function isWorkerOffline(worker: Pick<Worker, 'last_seen'>, now: Date, timeoutMs: number): boolean {
  const seen = Date.parse(worker.last_seen);
  if (Number.isNaN(seen)) {
    return true;
  }
  return now.getTime() - seen > timeoutMs;
}
