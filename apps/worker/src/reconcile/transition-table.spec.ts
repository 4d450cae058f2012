import type { PowerState, VmStatus } from '@grove/resources';
import {
  decideSpecChange,
  decideSyncAction,
  IMPOSSIBLE_TRANSITION_MESSAGE,
  LOST_TRACK_MESSAGE,
  orderForSync,
  pairByOnDiskName,
  planSync,
  syncPriority,
  TRANSITION_TABLE,
  type LocalVmView,
  type RemoteVmView,
  type SpecChangeStep,
  type SyncAction,
} from './transition-table';

const LOCAL_ERROR = 'VM failed: tart command failed: "Error: The virtual machine failed to start."';

function remoteVm(status: VmStatus, overrides: Partial<RemoteVmView> = {}): RemoteVmView {
  return { status, powerState: 'running', generation: 0, ...overrides };
}

function localVm(status: VmStatus, overrides: Partial<Omit<LocalVmView, 'status' | 'error'>> = {}): LocalVmView {
  const base = {
    appliedGeneration: 0,
    suspendable: false,
    running: status === 'running',
    powerChangeInProgress: false,
    ...overrides,
  };
  return status === 'failed' ? { ...base, status, error: LOCAL_ERROR } : { ...base, status };
}

type Side = VmStatus | 'none';

const remoteOf = (side: Side): RemoteVmView | undefined => (side === 'none' ? undefined : remoteVm(side));
const localOf = (side: Side): LocalVmView | undefined => (side === 'none' ? undefined : localVm(side));

describe('the remote × local transition table (orchard.md §5.2)', () => {
  // Written out cell by cell from the reference, independently of TRANSITION_TABLE, so that a typo there fails here.
  it.each<[remote: Side, local: Side, expected: SyncAction]>([
    ['none', 'none', { kind: 'ignore' }],
    ['none', 'pending', { kind: 'delete' }],
    ['none', 'running', { kind: 'delete' }],
    ['none', 'failed', { kind: 'delete' }],
    ['pending', 'none', { kind: 'create' }],
    ['pending', 'pending', { kind: 'monitorPending' }],
    ['pending', 'running', { kind: 'reportRunning' }],
    ['pending', 'failed', { kind: 'fail', message: LOCAL_ERROR }],
    ['running', 'none', { kind: 'lostTrack', message: 'Worker lost track of VM' }],
    ['running', 'pending', { kind: 'impossible', message: 'Encountered an impossible transition' }],
    ['running', 'running', { kind: 'monitorRunning', specChange: 'none' }],
    ['running', 'failed', { kind: 'fail', message: LOCAL_ERROR }],
    ['failed', 'none', { kind: 'ignore' }],
    ['failed', 'pending', { kind: 'stop' }],
    ['failed', 'running', { kind: 'stop' }],
    ['failed', 'failed', { kind: 'ignore' }],
  ])('remote %s × local %s', (remote, local, expected) => {
    expect(decideSyncAction(remoteOf(remote), localOf(local))).toEqual(expected);
  });

  it('defines every one of the 16 cells (Orchard: TestExplicitStateTransitions)', () => {
    const sides: Side[] = ['none', 'pending', 'running', 'failed'];
    for (const remote of sides) {
      expect(Object.keys(TRANSITION_TABLE[remote]).sort()).toEqual([...sides].sort());
    }
    expect(Object.keys(TRANSITION_TABLE).sort()).toEqual([...sides].sort());
  });

  it('reports the failed VM’s own error text, whatever it is', () => {
    const local: LocalVmView = { ...localVm('running'), status: 'failed', error: 'VM failed: VM exited unexpectedly' };
    expect(decideSyncAction(remoteVm('running'), local)).toEqual({
      kind: 'fail',
      message: 'VM failed: VM exited unexpectedly',
    });
  });

  it('exports the two fixed failure messages with Orchard’s exact text', () => {
    expect(LOST_TRACK_MESSAGE).toBe('Worker lost track of VM');
    expect(IMPOSSIBLE_TRANSITION_MESSAGE).toBe('Encountered an impossible transition');
  });
});

describe('monitor-running on a spec change (generation differs)', () => {
  // Columns: powerState wanted by the controller, applied spec was --suspendable, tart run is up, a stop/suspend is
  // in flight → the step.
  // prettier-ignore
  it.each<[name: string, powerState: PowerState, suspendable: boolean, running: boolean, inFlight: boolean, expected: SpecChangeStep]>([
    // tart run is up, nothing in flight: take it down first.
    ['softnet toggled on a plain VM', 'running', false, true, false, 'stop'],
    ['softnet toggled on a suspendable VM', 'running', true, true, false, 'suspend'],
    ['powerState → stopped, not suspendable', 'stopped', false, true, false, 'stop'],
    ['powerState → stopped wins over suspendable', 'stopped', true, true, false, 'stop'],
    ['powerState → suspended on a suspendable VM', 'suspended', true, true, false, 'suspend'],
    ['powerState → suspended but launched without --suspendable', 'suspended', false, true, false, 'stop'],
    // A stop or suspend is in flight: do nothing until tart run has exited.
    ['stop still in flight', 'running', false, true, true, 'waitForPowerChange'],
    ['suspend still in flight', 'suspended', true, true, true, 'waitForPowerChange'],
    ['in flight even though run already exited', 'running', false, false, true, 'waitForPowerChange'],
    // tart run has exited: adopt the spec; re-run only when the VM should run.
    ['stopped after a flag change, should run', 'running', false, false, false, 'startWithNewSpec'],
    ['suspended after a flag change, should run', 'running', true, false, false, 'startWithNewSpec'],
    ['stopped on request', 'stopped', false, false, false, 'adoptSpecOnly'],
    ['suspended on request', 'suspended', true, false, false, 'adoptSpecOnly'],
  ])('%s (powerState %s, suspendable %s, running %s, in flight %s) → %s', (_name, powerState, suspendable, running, powerChangeInProgress, expected) => {
    const remote = remoteVm('running', { generation: 2, powerState });
    const local = localVm('running', { appliedGeneration: 1, suspendable, running, powerChangeInProgress });
    expect(decideSyncAction(remote, local)).toEqual({ kind: 'monitorRunning', specChange: expected });
  });

  it.each<[PowerState, boolean, boolean]>([
    ['running', true, false],
    ['stopped', false, false],
    ['suspended', false, true],
    ['running', false, true],
  ])(
    'does nothing when the generation matches (powerState %s, running %s, in flight %s)',
    (powerState, running, inFlight) => {
      const remote = remoteVm('running', { generation: 3, powerState });
      const local = localVm('running', { appliedGeneration: 3, running, powerChangeInProgress: inFlight });
      expect(decideSpecChange(remote, local)).toBe('none');
    },
  );

  it('treats any difference as a change, not only a newer generation', () => {
    const local = localVm('running', { appliedGeneration: 5 });
    expect(decideSpecChange(remoteVm('running', { generation: 4 }), local)).toBe('stop');
  });

  it('goes stop → wait → start over successive passes after a softnet change', () => {
    const remote = remoteVm('running', { generation: 1, powerState: 'running' });
    // Pass 1: running the old spec.
    expect(decideSpecChange(remote, localVm('running', { appliedGeneration: 0 }))).toBe('stop');
    // Pass 2: the executor issued tart stop, which has not finished.
    expect(decideSpecChange(remote, localVm('running', { appliedGeneration: 0, powerChangeInProgress: true }))).toBe(
      'waitForPowerChange',
    );
    // Pass 3: tart run exited; re-run with the new flags.
    expect(decideSpecChange(remote, localVm('running', { appliedGeneration: 0, running: false }))).toBe(
      'startWithNewSpec',
    );
    // Pass 4: restarted with generation 1 applied; steady state.
    expect(decideSpecChange(remote, localVm('running', { appliedGeneration: 1 }))).toBe('none');
  });

  it('ignores the spec for every action but monitor-running', () => {
    // A generation bump on a pending VM must not stop anything: create/monitor-pending know nothing of it.
    const remote = remoteVm('pending', { generation: 9, powerState: 'stopped' });
    expect(decideSyncAction(remote, localVm('pending'))).toEqual({ kind: 'monitorPending' });
    expect(decideSyncAction(remote, localVm('running', { running: true }))).toEqual({ kind: 'reportRunning' });
  });
});

describe('sync ordering (Orchard sortNonExistentAndFailedFirst)', () => {
  it('ranks remote-missing, then remote-failed, then everything else', () => {
    expect(syncPriority(undefined)).toBe(0);
    expect(syncPriority({ status: 'failed' })).toBe(1);
    expect(syncPriority({ status: 'pending' })).toBe(2);
    expect(syncPriority({ status: 'running' })).toBe(2);
  });

  it('puts deletes and stops before creates, keeping the input order within a rank', () => {
    const pairs = [
      { onDiskName: 'a', remote: remoteVm('pending') },
      { onDiskName: 'b', remote: remoteVm('failed') },
      { onDiskName: 'c' },
      { onDiskName: 'd', remote: remoteVm('running') },
      { onDiskName: 'e', remote: remoteVm('failed') },
      { onDiskName: 'f' },
    ];
    expect(orderForSync(pairs).map((p) => p.onDiskName)).toEqual(['c', 'f', 'b', 'e', 'a', 'd']);
    // The input is left as it was.
    expect(pairs.map((p) => p.onDiskName)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });
});

describe('planSync', () => {
  it('joins both sides by on-disk name and orders the actions so resources are freed first', () => {
    const remote: [string, RemoteVmView][] = [
      ['grove-new-…-0', remoteVm('pending')],
      ['grove-steady-…-0', remoteVm('running')],
      ['grove-broken-…-0', remoteVm('failed')],
      ['grove-lost-…-0', remoteVm('running')],
    ];
    const local: [string, LocalVmView][] = [
      ['grove-steady-…-0', localVm('running')],
      ['grove-broken-…-0', localVm('running')],
      ['grove-deleted-…-0', localVm('running')],
    ];
    const plan = planSync(pairByOnDiskName(remote, local));
    expect(plan.map((p) => [p.onDiskName, p.action.kind])).toEqual([
      ['grove-deleted-…-0', 'delete'],
      ['grove-broken-…-0', 'stop'],
      ['grove-new-…-0', 'create'],
      ['grove-steady-…-0', 'monitorRunning'],
      ['grove-lost-…-0', 'lostTrack'],
    ]);
    // The executor gets back the very objects it passed in.
    expect(plan[1].remote).toBe(remote[2][1]);
    expect(plan[1].local).toBe(local[1][1]);
  });

  it('treats a restarted VM (new restart count) as a new incarnation: old clone deleted before the new one is made', () => {
    const plan = planSync(
      pairByOnDiskName([['grove-ci-u-1', remoteVm('pending')]], [['grove-ci-u-0', localVm('failed')]]),
    );
    expect(plan.map((p) => [p.onDiskName, p.action.kind])).toEqual([
      ['grove-ci-u-0', 'delete'],
      ['grove-ci-u-1', 'create'],
    ]);
  });

  it('returns nothing for nothing', () => {
    expect(planSync(pairByOnDiskName([], []))).toEqual([]);
  });
});
