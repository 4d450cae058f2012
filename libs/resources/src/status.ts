import type { VmStatus } from './enums';

/**
 * `GET /v1/status` (a Grove extension, issue 14): the cluster at a glance, for `grove status` — workers with their
 * capacity, VMs by status, the pending VMs and why they wait, and the sessions going through the replica that answered.
 */
export interface ClusterStatus {
  /** The controller replica that answered (several may share one database). */
  replica: string;
  workers: WorkerStatus[];
  vms: VmStatusCounts;
  pending: PendingStatus;
  sessions: SessionStatus;
}

/** A worker's state: `offline` when unseen past the offline timeout, `paused` when online with scheduling paused. */
export type WorkerState = 'online' | 'offline' | 'paused';

export interface WorkerStatus {
  name: string;
  state: WorkerState;
  /** `up` on a live replica, `lost` when the replica holding it is gone, `none` when it has no session. */
  session: 'up' | 'lost' | 'none';
  /** The replica holding (or last holding) its session. */
  sessionReplica?: string;
  lastSeen: string;
  /** VMs placed on it. */
  vms: number;
  /** Each resource it registered or its VMs take: what its placed VMs take of it, and how much it has. */
  resources: Record<string, { used: number; total: number }>;
}

/** VMs by status, and all of them. */
export type VmStatusCounts = Record<VmStatus, number> & { total: number };

export interface PendingStatus {
  /** Pending VMs: waiting for a worker, or placed and waiting for it to run them. */
  count: number;
  /** Of those, the ones placed on a worker that has not reported them running yet. */
  starting: number;
  /** Why the others wait, by reason (the VMs' status message), most common first. */
  reasons: { reason: string; count: number }[];
  /** The oldest pending VMs, at most 20. */
  oldest: PendingVmStatus[];
}

export interface PendingVmStatus {
  name: string;
  createdAt: string;
  /** Its worker once placed, else absent. */
  worker?: string;
  status_message: string;
}

/** User session kinds counted by the controller (docs/observability.md). */
export const SESSION_KINDS = ['port-forward', 'exec', 'ssh', 'vnc'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

export interface SessionStatus {
  /** The replica whose sessions these are: each replica counts the sessions its clients opened. */
  replica: string;
  /** Sessions in progress by kind. */
  active: Record<SessionKind, number>;
}
