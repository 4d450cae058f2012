/**
 * Enumerations of the public API. Values are identical to Orchard's so that an Orchard client works unchanged
 * (reference: orchard.md §2.8).
 */

export const ROLES = [
  'compute:read',
  'compute:write',
  'compute:connect',
  // Only `GET /v1/vms/{name}/port-forward?target=tart-guest-agent` (orchard-2026.md §1.2.4).
  'compute:connect:tart-guest-agent',
  // VM `hostProcesses` (orchard-2026.md §1.2.3): needed besides compute:write to set or change them, and besides
  // compute:connect (or compute:write) to reach one through `?hostProcess=`.
  'host-process:write',
  'host-process:connect',
  'admin:read',
  'admin:write',
] as const;
/** A role a service account can hold. */
export type Role = (typeof ROLES)[number];

export const VM_STATUSES = ['pending', 'running', 'failed'] as const;
/** Lifecycle status of a VM. `failed` is terminal. */
export type VmStatus = (typeof VM_STATUSES)[number];

export const POWER_STATES = ['running', 'stopped', 'suspended'] as const;
/** Desired power state of a VM; `stopped` and `suspended` are one-way. */
export type PowerState = (typeof POWER_STATES)[number];

export const RESTART_POLICIES = ['Never', 'OnFailure'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const IMAGE_PULL_POLICIES = ['IfNotPresent', 'Always'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];

export const OPERATING_SYSTEMS = ['darwin', 'linux'] as const;
export type Os = (typeof OPERATING_SYSTEMS)[number];

export const ARCHITECTURES = ['arm64', 'amd64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * VM runtimes as the API names them. Grove's in-process `synthetic` worker runtime reports itself as `tart`, so
 * that VMs created with the defaults land on it (ARCHITECTURE.md decision 6).
 */
export const RUNTIMES = ['tart', 'vetu'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export const SCHEDULER_PROFILES = ['optimize-utilization', 'distribute-load'] as const;
export type SchedulerProfile = (typeof SCHEDULER_PROFILES)[number];

/**
 * VM event kinds: `log_line` (startup-script output, Orchard's only kind) and `audit` (a port-forward, SSH or exec
 * session: who, what, when, how many bytes and how it ended; its payload is one JSON object, see docs).
 */
export const EVENT_KINDS = ['log_line', 'audit'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
/** Kinds clients may append with `POST /v1/vms/{name}/events`; audit events are written by the controller only. */
export const WRITABLE_EVENT_KINDS = ['log_line'] as const;

/** `host-processes-ready`: every host process of the VM is up and accepts connections (orchard-2026.md §1.2.3). */
export const CONDITION_TYPES = [
  'scheduled',
  'running',
  'cloning',
  'suspending',
  'stopping',
  'host-processes-ready',
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const CONDITION_STATES = ['true', 'false'] as const;
export type ConditionState = (typeof CONDITION_STATES)[number];

/** Well-known resource names (orchard.md §2.9). */
export const RESOURCE_TART_VMS = 'org.cirruslabs.tart-vms';
export const RESOURCE_LOGICAL_CORES = 'org.cirruslabs.logical-cores';
export const RESOURCE_MEMORY_MIB = 'org.cirruslabs.memory-mib';

/** Defaults used when neither the VM nor the worker sets CPU or memory (orchard.md §10). */
export const DEFAULT_CPU = 4;
export const DEFAULT_MEMORY_MIB = 8192;

/** Go's zero `time.Time`, which Orchard serialises for unset timestamps (orchard.md §1.1). */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function isOneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (values as readonly string[]).includes(value);
}
