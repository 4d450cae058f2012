import type { ClusterStatus, PendingVmStatus, WorkerStatus } from '@grove/resources';
import { formatAge, formatTable } from './table';

/** Orchard's well-known resources are shown without their common prefix (`tart-vms`, `memory-mib`). */
const WELL_KNOWN_PREFIX = 'org.cirruslabs.';

function resourceName(name: string): string {
  return name.startsWith(WELL_KNOWN_PREFIX) ? name.slice(WELL_KNOWN_PREFIX.length) : name;
}

/** `tart-vms 2/2, memory-mib 4096/16384`: what the worker's VMs take of each resource it has. */
function capacityText(worker: WorkerStatus): string {
  const entries = Object.entries(worker.resources ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0
    ? '-'
    : entries.map(([name, { used, total }]) => `${resourceName(name)} ${used}/${total}`).join(', ');
}

function sessionText(worker: WorkerStatus): string {
  switch (worker.session) {
    case 'up':
      return worker.sessionReplica ? `up on ${worker.sessionReplica}` : 'up';
    case 'lost':
      return worker.sessionReplica ? `lost (${worker.sessionReplica})` : 'lost';
    case 'none':
      return '-';
  }
}

/** A pending VM's reason; an empty one means that no scheduling pass has looked at it yet. */
function reasonText(reason: string): string {
  return reason === '' ? '(not looked at by the scheduler yet)' : reason;
}

function pendingVmRow(vm: PendingVmStatus, now: Date): string[] {
  return [
    vm.name,
    formatAge(vm.createdAt, now),
    vm.worker ?? '-',
    vm.worker && !vm.status_message ? 'waiting for the worker to run it' : reasonText(vm.status_message),
  ];
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function workersSection(status: ClusterStatus, now: Date): string {
  const by = (state: WorkerStatus['state']) => status.workers.filter((w) => w.state === state).length;
  const title =
    `Workers: ${status.workers.length} (${by('online')} online, ${by('paused')} paused, ` +
    `${by('offline')} offline)\n`;
  if (status.workers.length === 0) {
    return title;
  }
  return (
    title +
    formatTable(
      ['NAME', 'STATE', 'SESSION', 'VMS', 'USED/TOTAL', 'LAST-SEEN'],
      status.workers.map((w) => [
        w.name,
        w.state,
        sessionText(w),
        String(w.vms),
        capacityText(w),
        formatAge(w.lastSeen, now),
      ]),
    )
  );
}

function pendingSection(status: ClusterStatus, now: Date): string {
  const { pending } = status;
  if (pending.count === 0) {
    return 'Pending VMs: none\n';
  }
  const waiting = pending.count - pending.starting;
  let text =
    `Pending VMs: ${pending.count} (${waiting} waiting for a worker, ` +
    `${pending.starting} placed and not running yet)\n`;
  if (pending.reasons.length > 0) {
    text += formatTable(
      ['WAITING', 'REASON'],
      pending.reasons.map((r) => [String(r.count), reasonText(r.reason)]),
    );
  }
  const shown = pending.oldest.length < pending.count ? `, the oldest ${pending.oldest.length}` : '';
  text += `\nPending VMs by age${shown}:\n`;
  text += formatTable(
    ['NAME', 'CREATED', 'WORKER', 'WHY'],
    pending.oldest.map((vm) => pendingVmRow(vm, now)),
  );
  return text;
}

/** `grove status`: one screen for a person. */
export function renderStatus(status: ClusterStatus, now: Date): string {
  const { vms, sessions } = status;
  const active = Object.entries(sessions.active)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  return [
    workersSection(status, now),
    `VMs: ${vms.total} (${vms.running} running, ${vms.pending} pending, ${vms.failed} failed)\n`,
    pendingSection(status, now),
    `Sessions now on ${sessions.replica}: ${active} (${count(
      Object.values(sessions.active).reduce((a, b) => a + b, 0),
      'session',
    )})\n`,
  ].join('\n');
}
