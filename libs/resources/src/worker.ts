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
  /** What the worker can do beyond the baseline, as it reported at registration (e.g. `vm-exposed-ports`). */
  capabilities: string[];
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

/**
 * The label every worker carries implicitly, set to its name, so that a VM can pin itself to one worker with
 * `labels: {"org.cirruslabs.orchard.worker-name": "mac-1"}` (Orchard's `v1.LabelWorkerName`, orchard-2026.md §1.2.10).
 */
export const LABEL_WORKER_NAME = 'org.cirruslabs.orchard.worker-name';

/** A worker's labels as served and matched: its own, with the automatic worker-name label (which wins). */
export function workerLabels(name: string, labels: Labels): Labels {
  return { ...labels, [LABEL_WORKER_NAME]: name };
}

/**
 * Worker capabilities (`Worker.capabilities`, orchard-2026.md §1.2.12). A worker that can run VMs with
 * `netSoftnetExpose` says `vm-exposed-ports`; the scheduler places such VMs only there.
 */
export const WORKER_CAPABILITY_VM_EXPOSED_PORTS = 'vm-exposed-ports';

/**
 * Capability of a worker that listens on its own ports for VM `endpoints` and relays to the VMs (orchard-2026.md
 * §1.2.2); the scheduler places VMs with endpoints only there.
 */
export const WORKER_CAPABILITY_VM_ENDPOINTS = 'vm-endpoints';

/**
 * Capability of a worker that runs VM `hostProcesses` (orchard-2026.md §1.2.3) and tunnels to them; the scheduler
 * places VMs with host processes only there. A worker started with `--no-host-processes` leaves it out.
 */
export const WORKER_CAPABILITY_HOST_PROCESSES = 'host-processes';

/** What the scheduler writes into `observedEndpoints` of a VM placed on a worker without `vm-endpoints` (Orchard's). */
export const ENDPOINTS_UNSUPPORTED_MESSAGE = "worker doesn't support VM endpoints";
