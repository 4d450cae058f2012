import type { Vm, VmStatus } from '@grove/resources';

/**
 * What the worker needs from the controller's copy of one VM incarnation to decide what to do with it. Kept to three
 * fields so that the decision cannot quietly start depending on anything else the API returns.
 */
export type RemoteVmView = Pick<Vm, 'status' | 'powerState' | 'generation'>;

/**
 * The local VM's status, shaped so that a failed VM always carries the error text that `fail` reports: Orchard reads
 * `vm.Err().Error()` there and would crash on a failed VM without an error, which this type rules out.
 */
export type LocalVmStatus = { status: 'pending' | 'running' } | { status: 'failed'; error: string };

/**
 * The worker's own view of one VM incarnation (orchard.md §5.2: `failed` if the VM has an error, `running` once
 * `tart run` has been launched at least once, else `pending`). `status` stays `running` after a stop or suspend, so
 * whether `tart run` is up right now is a separate flag, as in Orchard's `running` condition.
 */
export type LocalVmView = LocalVmStatus & {
  /** Generation of the spec the runtime VM was last (re)started with; a difference from the remote one is a change. */
  appliedGeneration: number;
  /** Whether the applied spec launched `tart run --suspendable`: only such a VM can be suspended. */
  suspendable: boolean;
  /** `tart run` is up right now (Orchard's `running` condition). */
  running: boolean;
  /** A stop or suspend was started and has not finished; acting again would issue a second `tart stop`/`suspend`. */
  powerChangeInProgress: boolean;
};

/** Which column or row of the §5.2 table a side falls in: absent, or one of the VM statuses. */
export type SyncState = 'none' | VmStatus;

/** The actions of Orchard's transition table (orchard.md §5.2), before `monitorRunning` is refined. */
export type TableAction =
  | 'ignore'
  | 'create'
  | 'delete'
  | 'monitorPending'
  | 'reportRunning'
  | 'monitorRunning'
  | 'stop'
  | 'fail'
  | 'lostTrack'
  | 'impossible';

/**
 * Orchard's remote × local table (internal/worker/fsm.go) as data, so that a reviewer can compare it cell by cell with
 * the reference and so that every pair of states has an explicit answer instead of falling through a switch.
 */
export const TRANSITION_TABLE: Readonly<Record<SyncState, Readonly<Record<SyncState, TableAction>>>> = {
  none: { none: 'ignore', pending: 'delete', running: 'delete', failed: 'delete' },
  pending: { none: 'create', pending: 'monitorPending', running: 'reportRunning', failed: 'fail' },
  running: { none: 'lostTrack', pending: 'impossible', running: 'monitorRunning', failed: 'fail' },
  failed: { none: 'ignore', pending: 'stop', running: 'stop', failed: 'ignore' },
};

/** Status message Orchard reports when the controller thinks a VM runs here but the worker has no such VM. */
export const LOST_TRACK_MESSAGE = 'Worker lost track of VM';
/** Status message Orchard reports for a VM the controller calls running while it is still pending locally. */
export const IMPOSSIBLE_TRANSITION_MESSAGE = 'Encountered an impossible transition';

/**
 * What to do about a spec change (a `generation` bump) of a running VM. The change takes two sync passes because
 * stopping and suspending are asynchronous: first `stop`/`suspend`, then (once `tart run` has exited) adopt the new
 * spec and, if the VM should still run, `startWithNewSpec` re-runs `tart run` with the new flags — no re-clone.
 * - `none`: the local VM already runs the remote generation.
 * - `waitForPowerChange`: a stop or suspend is still in flight; issuing another would be a second `tart stop`.
 * - `stop`: `powerState` is `stopped`, or the running VM was not launched `--suspendable` and so cannot be suspended.
 * - `suspend`: a suspendable VM that is not being stopped keeps its memory across the change (`tart suspend`).
 * - `startWithNewSpec`: the VM is down and should run: adopt the spec (`observedGeneration = generation`), re-run.
 * - `adoptSpecOnly`: the VM is down and should stay down (`powerState` stopped/suspended): adopt the spec only, so
 *   `observedGeneration` catches up without starting anything.
 */
export type SpecChangeStep = 'none' | 'waitForPowerChange' | 'stop' | 'suspend' | 'startWithNewSpec' | 'adoptSpecOnly';

/**
 * The decision for one VM incarnation. A discriminated union so that the executor's exhaustive switch (lint:
 * `switch-exhaustiveness-check`) breaks the build when a new action is added here but not executed there.
 * Failure-reporting actions carry the exact status message Orchard reports, so the executor does not invent text.
 */
export type SyncAction =
  | { kind: 'ignore' }
  /** Clone, configure and run a new runtime VM for a remote VM the worker does not have. */
  | { kind: 'create' }
  /** The controller forgot the VM (deleted): stop it, `tart delete` it and drop it from the manager. */
  | { kind: 'delete' }
  /** Still pulling/cloning/configuring: push `status_message` changes only. */
  | { kind: 'monitorPending' }
  /** `tart run` was launched: report `status=running`, the status message and `image_fqn`. */
  | { kind: 'reportRunning' }
  /** Steady state: apply a spec change (see {@link SpecChangeStep}), then report message, generation, conditions. */
  | { kind: 'monitorRunning'; specChange: SpecChangeStep }
  /** The controller already failed the VM: stop it locally so the scheduler's resource accounting holds. */
  | { kind: 'stop' }
  /** The VM failed locally: stop it and report `failed` with the local error text. */
  | { kind: 'fail'; message: string }
  /** The controller thinks the VM runs here but the worker has none (e.g. after a worker restart). */
  | { kind: 'lostTrack'; message: typeof LOST_TRACK_MESSAGE }
  /** The controller says running while the local VM never started: a state no correct sequence can reach. */
  | { kind: 'impossible'; message: typeof IMPOSSIBLE_TRANSITION_MESSAGE };

/** The kinds of {@link SyncAction}, for callers that log or count decisions. */
export type SyncActionKind = SyncAction['kind'];

/** Maps an optional side to its table key, so that "absent" is a state of its own rather than a special case. */
export function syncStateOf(view: { status: VmStatus } | undefined): SyncState {
  return view === undefined ? 'none' : view.status;
}

/**
 * The spec-change sub-decision of `monitorRunning`, following Orchard's worker.go: while `tart run` is up and no
 * stop/suspend is in flight, stop if the VM must end up stopped or cannot be suspended (its *applied* spec was not
 * `--suspendable`, since `tart suspend` only works on a VM launched that way), else suspend; once it is down, adopt
 * the new spec and start it again only if `powerState` is `running`.
 */
export function decideSpecChange(remote: RemoteVmView, local: LocalVmView): SpecChangeStep {
  if (remote.generation === local.appliedGeneration) {
    return 'none';
  }
  if (local.powerChangeInProgress) {
    return 'waitForPowerChange';
  }
  if (local.running) {
    return remote.powerState === 'stopped' || !local.suspendable ? 'stop' : 'suspend';
  }
  return remote.powerState === 'running' ? 'startWithNewSpec' : 'adoptSpecOnly';
}

/**
 * The worker's whole reconciliation decision for one VM incarnation, pure so that every cell of the table and every
 * spec-change case is checked by table-driven tests without a runtime; the executors do the I/O.
 */
export function decideSyncAction(remote: RemoteVmView | undefined, local: LocalVmView | undefined): SyncAction {
  const action = TRANSITION_TABLE[syncStateOf(remote)][syncStateOf(local)];
  switch (action) {
    case 'ignore':
    case 'create':
    case 'delete':
    case 'monitorPending':
    case 'reportRunning':
    case 'stop':
      return { kind: action };
    case 'monitorRunning':
      // The table yields monitorRunning only when both sides exist; the check is for the compiler.
      if (remote === undefined || local === undefined) {
        throw new Error('monitorRunning needs both a remote and a local VM');
      }
      return { kind: 'monitorRunning', specChange: decideSpecChange(remote, local) };
    case 'fail':
      // The table yields fail only for a failed local VM, whose type carries the error text.
      if (local?.status !== 'failed') {
        throw new Error('fail needs a failed local VM');
      }
      return { kind: 'fail', message: local.error };
    case 'lostTrack':
      return { kind: 'lostTrack', message: LOST_TRACK_MESSAGE };
    case 'impossible':
      return { kind: 'impossible', message: IMPOSSIBLE_TRANSITION_MESSAGE };
  }
}

/**
 * Sort rank of a pair: VMs the controller no longer has come first, then VMs it has failed, then the rest. Deleting
 * and stopping before creating keeps the worker within the resources the scheduler believes are free (Orchard's
 * `sortNonExistentAndFailedFirst`); otherwise a replacement VM could be cloned while the old one still runs.
 */
export function syncPriority(remote: { status: VmStatus } | undefined): 0 | 1 | 2 {
  if (remote === undefined) {
    return 0;
  }
  return remote.status === 'failed' ? 1 : 2;
}

/**
 * Orders pairs for one sync pass by {@link syncPriority}. Stable, so pairs of the same rank keep the caller's order
 * and a pass is reproducible (Orchard iterates a hash set, which a test cannot pin down). Returns a new array.
 */
export function orderForSync<T extends { remote?: { status: VmStatus } }>(pairs: readonly T[]): T[] {
  return pairs
    .map((pair, index) => ({ pair, index }))
    .sort((a, b) => syncPriority(a.pair.remote) - syncPriority(b.pair.remote) || a.index - b.index)
    .map(({ pair }) => pair);
}

/** One on-disk name with what the controller and the worker each know about it (either side may be absent). */
export interface SyncPair<R extends RemoteVmView = RemoteVmView, L extends LocalVmView = LocalVmView> {
  onDiskName: string;
  remote?: R;
  local?: L;
}

/** A pair with its decision; the pair's objects are passed through so the executor acts on what was decided on. */
export interface PlannedSyncAction<
  R extends RemoteVmView = RemoteVmView,
  L extends LocalVmView = LocalVmView,
> extends SyncPair<R, L> {
  action: SyncAction;
}

/**
 * Joins the controller's VMs and the worker's VMs on their on-disk name, which identifies one incarnation (name, uid
 * and restart count), so that a restarted VM (new restart count) is a new pair: its old clone is deleted and a new one
 * created. Remote VMs come first in the given order, then local-only ones.
 */
export function pairByOnDiskName<R extends RemoteVmView, L extends LocalVmView>(
  remote: Iterable<readonly [onDiskName: string, vm: R]>,
  local: Iterable<readonly [onDiskName: string, vm: L]>,
): SyncPair<R, L>[] {
  const pairs = new Map<string, SyncPair<R, L>>();
  for (const [onDiskName, vm] of remote) {
    pairs.set(onDiskName, { onDiskName, remote: vm });
  }
  for (const [onDiskName, vm] of local) {
    const pair = pairs.get(onDiskName);
    if (pair) {
      pair.local = vm;
    } else {
      pairs.set(onDiskName, { onDiskName, local: vm });
    }
  }
  return [...pairs.values()];
}

/**
 * One sync pass as data: every pair ordered so that resources are freed before anything is created, each with its
 * action. The caller executes the list in order; nothing here touches the runtime or the controller.
 */
export function planSync<R extends RemoteVmView, L extends LocalVmView>(
  pairs: readonly SyncPair<R, L>[],
): PlannedSyncAction<R, L>[] {
  return orderForSync(pairs).map((pair) => ({ ...pair, action: decideSyncAction(pair.remote, pair.local) }));
}
