import { vmLocalName, type Vm, type VmStatus } from '@grove/resources';

/** The parts of an on-disk VM name: which VM, which incarnation of it (uid) and which restart of that incarnation. */
export interface OnDiskName {
  name: string;
  uid: string;
  restartCount: number;
}

/** Every Grove on-disk name starts with this; anything else on the host belongs to someone else. */
export const ON_DISK_NAME_PREFIX = 'grove-';

const UUID_PARTS = 5;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Canonical decimal only: "01" would parse to 1 but format back as "1", so the clone would never match its VM and
// garbage collection would delete it; such a name is left alone instead.
const RESTART_COUNT = /^(0|[1-9][0-9]*)$/;

/**
 * The on-disk (Tart) name of one VM incarnation. It reuses `vmLocalName` so that the worker and the controller's
 * `localName` field can never disagree about where a VM lives.
 */
export function formatOnDiskName(parts: OnDiskName): string {
  return vmLocalName(parts.name, parts.uid, parts.restartCount);
}

/** The on-disk name of a controller VM: a restart bumps `restart_count` and so gives a fresh clone a new name. */
export function onDiskNameOf(vm: Pick<Vm, 'name' | 'uid' | 'restart_count'>): string {
  return vmLocalName(vm.name, vm.uid, vm.restart_count);
}

/**
 * Parses `grove-<vmName>-<uid>-<restartCount>` from the right, since VM names may contain dashes but the uid is always
 * a five-part UUID followed by the count (Orchard's ondiskname.Parse). Returns undefined for anything that is not
 * exactly such a name — a foreign VM, an Orchard `orchard-…` VM, a non-UUID uid — because the worker must only ever
 * touch VMs it can prove are its own.
 */
export function parseOnDiskName(text: string): OnDiskName | undefined {
  if (!text.startsWith(ON_DISK_NAME_PREFIX)) {
    return undefined;
  }
  const parts = text.slice(ON_DISK_NAME_PREFIX.length).split('-');
  // At least one part of VM name, five of UUID, one of restart count.
  if (parts.length < 1 + UUID_PARTS + 1) {
    return undefined;
  }
  const restartCountText = parts[parts.length - 1];
  const uid = parts.slice(-1 - UUID_PARTS, -1).join('-');
  const name = parts.slice(0, -1 - UUID_PARTS).join('-');
  if (name === '' || !UUID.test(uid) || !RESTART_COUNT.test(restartCountText)) {
    return undefined;
  }
  const restartCount = Number(restartCountText);
  if (!Number.isSafeInteger(restartCount)) {
    return undefined;
  }
  return { name, uid, restartCount };
}

/** One line of `tart list --format json`, reduced to what garbage collection needs. */
export interface OnDiskVm {
  name: string;
  /** `tart stop` on a VM that is not running fails, so it is issued only for running ones. */
  running: boolean;
}

/** What the controller says about one incarnation, as far as garbage collection cares. */
export type ControllerVmView = Pick<Vm, 'name' | 'uid' | 'restart_count'> & { status: VmStatus };

/**
 * The on-disk clean-up of one session start (orchard.md §5.5), as data so the executor runs `tart` and nothing else
 * decides. `delete` lists clones the controller does not know or still has pending (stop first when running), `stop` lists running clones
 * the controller has moved past `pending` — the worker lost their process, so the FSM will then report them as lost.
 * `ignored` lists `grove-`-prefixed names that do not parse, for a warning; they are never touched.
 */
export interface OnDiskGcPlan {
  delete: { name: string; stopFirst: boolean }[];
  stop: string[];
  ignored: string[];
}

/**
 * Decides which on-disk VMs to stop or delete at session start. VMs the worker already manages in memory are left to
 * the sync FSM; VMs that are not Grove's (including Orchard's `orchard-…` ones on a shared host) are never touched; the
 * clone of a remote VM still `pending` is deleted too, because the FSM's `create` clones it again.
 */
export function planOnDiskGc(
  onDisk: readonly OnDiskVm[],
  controllerVms: readonly ControllerVmView[],
  managed: ReadonlySet<string> = new Set(),
): OnDiskGcPlan {
  const remote = new Map(controllerVms.map((vm) => [onDiskNameOf(vm), vm] as const));
  const plan: OnDiskGcPlan = { delete: [], stop: [], ignored: [] };
  for (const vm of onDisk) {
    const parsed = parseOnDiskName(vm.name);
    if (parsed === undefined) {
      if (vm.name.startsWith(ON_DISK_NAME_PREFIX)) {
        plan.ignored.push(vm.name);
      }
      continue;
    }
    if (managed.has(vm.name)) {
      continue;
    }
    const known = remote.get(vm.name);
    // A pending VM is cloned again by the FSM's `create`, and `tart clone` refuses an existing name: the half-made
    // clone of a worker that died while creating it has to go first.
    if (known === undefined || known.status === 'pending') {
      plan.delete.push({ name: vm.name, stopFirst: vm.running });
    } else if (vm.running) {
      plan.stop.push(vm.name);
    }
  }
  return plan;
}
