import { newVm, setCondition, type Vm, type Worker, DEFAULT_CLUSTER_SETTINGS } from '@grove/resources';
import { checkVmHealth, restartBackoffMs, VM_WORKER_DELETED, VM_WORKER_OFFLINE, withAbsenceGrace } from './health';
import { planPlacement } from './placement';

const NOW = new Date('2026-11-23T12:00:00Z');
const OFFLINE = 180_000;
let seq = 0;

function vm(name: string, overrides: Partial<Vm> = {}, createdOffsetS = seq++): Vm {
  const base = newVm(
    { name, image: 'img' },
    DEFAULT_CLUSTER_SETTINGS,
    `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    new Date(NOW.getTime() - 3_600_000 + createdOffsetS * 1000),
  );
  return { ...base, ...overrides };
}

function scheduledOn(v: Vm, worker: string, extra: Partial<Vm> = {}): Vm {
  return { ...v, worker, conditions: setCondition(v.conditions, 'scheduled', true), ...extra };
}

function worker(name: string, overrides: Partial<Worker> = {}): Worker {
  return {
    name,
    createdAt: NOW.toISOString(),
    last_seen: NOW.toISOString(),
    machine_id: name,
    scheduling_paused: false,
    resources: { 'org.cirruslabs.tart-vms': 2 },
    labels: {},
    defaultCPU: 0,
    defaultMemory: 0,
    arch: 'arm64',
    runtime: 'tart',
    capabilities: [],
    ...overrides,
  };
}

const plan = (
  vms: Vm[],
  workers: Worker[],
  profile: 'optimize-utilization' | 'distribute-load' = 'optimize-utilization',
) => planPlacement({ vms, workers, profile, now: NOW, offlineTimeoutMs: OFFLINE });

describe('placement', () => {
  it('packs with optimize-utilization and spreads with distribute-load, ties broken by name', () => {
    const workers = ['c', 'a', 'b'].map((n) => worker(n, { resources: { 'org.cirruslabs.tart-vms': 3 } }));
    const vms = [vm('v1'), vm('v2'), vm('v3')];
    expect(plan(vms, workers).assignments.map((a) => a.worker)).toEqual(['a', 'a', 'a']);
    expect(plan(vms, workers, 'distribute-load').assignments.map((a) => a.worker)).toEqual(['a', 'b', 'c']);
  });

  it('places in creation order, first come first served', () => {
    const workers = [worker('w', { resources: { 'org.cirruslabs.tart-vms': 1 } })];
    const result = plan([vm('late', {}, 100), vm('early', {}, 1)], workers);
    expect(result.assignments.map((a) => a.vm)).toEqual(['early']);
    expect(result.unplaced).toEqual([
      expect.objectContaining({ vm: 'late', reason: 'waiting for a worker: w: not enough org.cirruslabs.tart-vms' }),
    ]);
  });

  it('counts VMs already scheduled against the macOS licence slots', () => {
    const w = worker('w');
    const running = [scheduledOn(vm('r1'), 'w'), scheduledOn(vm('r2'), 'w')];
    const result = plan([...running, vm('third')], [w]);
    expect(result.assignments).toEqual([]);
    expect(result.unplaced[0].vm).toBe('third');
    // Linux VMs do not take a licence slot.
    expect(plan([...running, vm('linux', { os: 'linux', resources: {} })], [w]).assignments[0].vm).toBe('linux');
  });

  it.each<[string, Partial<Worker>, string]>([
    ['paused', { scheduling_paused: true }, 'scheduling paused'],
    ['offline', { last_seen: new Date(NOW.getTime() - OFFLINE - 1000).toISOString() }, 'offline'],
    ['amd64', { arch: 'amd64' }, 'architecture amd64'],
    ['vetu', { runtime: 'vetu' }, 'runtime vetu'],
    ['unlabelled', {}, 'lacks label role=ci'],
    ['tiny', { resources: { 'org.cirruslabs.tart-vms': 2 } }, 'not enough gpu'],
  ])('never places on a %s worker and says why', (name, overrides, reason) => {
    const wanted = vm('v', {
      labels: name === 'unlabelled' ? { role: 'ci' } : {},
      resources: name === 'tiny' ? { gpu: 1 } : { 'org.cirruslabs.tart-vms': 1 },
    });
    const result = plan([wanted], [worker(name, overrides)]);
    expect(result.assignments).toEqual([]);
    expect(result.unplaced[0].reason).toBe(`waiting for a worker: ${name}: ${reason}`);
  });

  it('matches labels as a subset of the worker labels', () => {
    const workers = [worker('plain'), worker('tagged', { labels: { role: 'ci', zone: 'a' } })];
    expect(plan([vm('v', { labels: { role: 'ci' } })], workers).assignments[0].worker).toBe('tagged');
  });

  it('fills implicit CPU and memory from the worker, else 4 CPUs and 8192 MiB', () => {
    const explicit = plan([vm('x', { cpu: 2, memory: 1024 })], [worker('w', { defaultCPU: 12, defaultMemory: 3456 })]);
    expect(explicit.assignments[0]).toMatchObject({ assignedCPU: 2, assignedMemory: 1024 });
    const implicit = plan([vm('y')], [worker('w', { defaultCPU: 12, defaultMemory: 3456 })]);
    expect(implicit.assignments[0]).toMatchObject({ assignedCPU: 12, assignedMemory: 3456 });
    const fallback = plan([vm('z')], [worker('w')]);
    expect(fallback.assignments[0]).toMatchObject({ assignedCPU: 4, assignedMemory: 8192 });
  });

  it('skips failed, stopped and already scheduled VMs and says when no worker exists', () => {
    const vms = [
      vm('failed', { status: 'failed' }),
      vm('stopped', { powerState: 'stopped' }),
      scheduledOn(vm('on'), 'w'),
    ];
    expect(plan(vms, [worker('w')]).assignments).toEqual([]);
    expect(plan([vm('lonely')], []).unplaced[0].reason).toBe('waiting for a worker: none is registered');
  });
});

describe('placement of VMs with exposed ports (orchard-2026.md §1.2.9)', () => {
  const capable = (name: string) =>
    worker(name, { resources: { 'org.cirruslabs.tart-vms': 10 }, capabilities: ['vm-exposed-ports'] });

  it('needs a worker with capability vm-exposed-ports', () => {
    const result = plan(
      [vm('exposed', { netSoftnetExpose: ['2222:22'] }), vm('plain')],
      [worker('a', { resources: { 'org.cirruslabs.tart-vms': 10 } }), capable('b')],
    );
    expect(result.assignments.map((a) => `${a.vm}@${a.worker}`)).toEqual(['exposed@b', 'plain@b']);
    expect(plan([vm('alone', { netSoftnetExpose: ['2222:22'] })], [worker('a')]).unplaced).toEqual([
      expect.objectContaining({ reason: 'waiting for a worker: a: lacks capability vm-exposed-ports' }),
    ]);
  });

  it('never puts two VMs exposing one worker port on the same worker, counting this pass’s own placements', () => {
    const held = scheduledOn(vm('held', { netSoftnetExpose: ['2222:22', '80:80'] }), 'a');
    const result = plan(
      [
        held,
        vm('second', { netSoftnetExpose: ['2222:2222'] }),
        vm('third', { netSoftnetExpose: ['8080:80'] }),
        vm('fourth', { netSoftnetExpose: ['8080:80', '80:8080'] }),
      ],
      [capable('a'), capable('b')],
    );
    expect(result.assignments.map((a) => `${a.vm}@${a.worker}`)).toEqual(['second@b', 'third@a', 'fourth@b']);
    expect(plan([held, vm('clash', { netSoftnetExpose: ['2222:22', '80:80'] })], [capable('a')]).unplaced).toEqual([
      expect.objectContaining({ reason: 'waiting for a worker: a: ports 2222, 80 exposed by another VM' }),
    ]);
  });
});

describe('health check', () => {
  const workers = new Map([['w', worker('w')]]);

  it('fails VMs of deleted and offline workers', () => {
    expect(checkVmHealth(scheduledOn(vm('a'), 'gone'), workers, NOW, OFFLINE)).toMatchObject({
      status: 'failed',
      status_message: VM_WORKER_DELETED,
    });
    const stale = new Map([['w', worker('w', { last_seen: new Date(NOW.getTime() - OFFLINE - 1).toISOString() })]]);
    expect(checkVmHealth(scheduledOn(vm('b'), 'w'), stale, NOW, OFFLINE)).toMatchObject({
      status: 'failed',
      status_message: VM_WORKER_OFFLINE,
    });
    expect(checkVmHealth(scheduledOn(vm('c'), 'w'), workers, NOW, OFFLINE)).toBeUndefined();
    expect(checkVmHealth(vm('unscheduled'), new Map(), NOW, OFFLINE)).toBeUndefined();
  });

  it('frees the resources of failed VMs and of stopped VMs once they no longer run', () => {
    const failed = checkVmHealth(scheduledOn(vm('f'), 'w', { status: 'failed' }), workers, NOW, OFFLINE);
    expect(failed?.conditions).toEqual(
      expect.arrayContaining([
        { type: 'scheduled', state: 'false' },
        { type: 'running', state: 'false' },
      ]),
    );
    const stoppedRunning = scheduledOn(vm('s'), 'w', { powerState: 'stopped' });
    stoppedRunning.conditions = setCondition(stoppedRunning.conditions, 'running', true);
    expect(checkVmHealth(stoppedRunning, workers, NOW, OFFLINE)).toBeUndefined();
    stoppedRunning.conditions = setCondition(stoppedRunning.conditions, 'running', false);
    expect(checkVmHealth(stoppedRunning, workers, NOW, OFFLINE)?.conditions).toContainEqual({
      type: 'scheduled',
      state: 'false',
    });
  });

  it('restarts OnFailure VMs with a new local name and a growing, bounded back-off', () => {
    const failed = scheduledOn(vm('r', { restart_policy: 'OnFailure' }), 'w', {
      status: 'failed',
      status_message: 'boom',
    });
    const restarted = checkVmHealth(failed, workers, NOW, OFFLINE)!;
    expect(restarted).toMatchObject({
      status: 'pending',
      status_message: '',
      worker: '',
      restart_count: 1,
      restarted_at: NOW.toISOString(),
      conditions: [{ type: 'scheduled', state: 'false' }],
    });
    expect(restarted.localName).toBe(`grove-r-${failed.uid}-1`);
    expect(restarted.tartName).toBe(restarted.localName);

    // Failing again 10 s later: no restart yet (15 s back-off), but the resources are freed.
    const again = {
      ...restarted,
      status: 'failed' as const,
      worker: 'w',
      conditions: setCondition(restarted.conditions, 'scheduled', true),
    };
    const soon = new Date(NOW.getTime() + 10_000);
    expect(checkVmHealth(again, workers, soon, OFFLINE)?.status).toBe('failed');
    // Orchard would never restart it again; Grove does once the back-off has passed, even unscheduled.
    const unscheduled = { ...again, conditions: setCondition(again.conditions, 'scheduled', false) };
    expect(checkVmHealth(unscheduled, workers, soon, OFFLINE)).toBeUndefined();
    expect(checkVmHealth(unscheduled, workers, new Date(NOW.getTime() + 15_000), OFFLINE)?.restart_count).toBe(2);

    expect([0, 1, 2, 3, 10].map(restartBackoffMs)).toEqual([0, 15_000, 30_000, 60_000, 300_000]);
    expect(checkVmHealth({ ...failed, restart_policy: 'Never' }, workers, NOW, OFFLINE)?.status).toBe('failed');
  });
});

describe('restart grace', () => {
  const longAgo = new Date(NOW.getTime() - 10 * 60_000).toISOString();

  it('fails no VM because of a last_seen older than the controller start when the worker is within the timeout of it', () => {
    // The controller was down ten minutes and started a minute ago: the worker's absence counts from the start.
    const start = new Date(NOW.getTime() - 60_000);
    const workers = withAbsenceGrace([worker('w', { last_seen: longAgo })], start);
    expect(checkVmHealth(scheduledOn(vm('g1'), 'w'), workers, NOW, OFFLINE)).toBeUndefined();
  });

  it('fails the VMs of a worker still absent a whole timeout after the controller started', () => {
    const start = new Date(NOW.getTime() - OFFLINE - 1000);
    const workers = withAbsenceGrace([worker('w', { last_seen: longAgo })], start);
    expect(checkVmHealth(scheduledOn(vm('g2'), 'w'), workers, NOW, OFFLINE)).toMatchObject({
      status: 'failed',
      status_message: VM_WORKER_OFFLINE,
    });
  });

  it('counts a worker whose session is up as seen now, however old its last heartbeat', () => {
    const start = new Date(NOW.getTime() - OFFLINE - 60_000);
    const workers = withAbsenceGrace([worker('w', { last_seen: longAgo })], start, new Set(['w']), NOW);
    expect(checkVmHealth(scheduledOn(vm('g3'), 'w'), workers, NOW, OFFLINE)).toBeUndefined();
    const absent = withAbsenceGrace([worker('w', { last_seen: longAgo })], start, new Set(['other']), NOW);
    expect(checkVmHealth(scheduledOn(vm('g4'), 'w'), absent, NOW, OFFLINE)?.status).toBe('failed');
  });

  it('keeps a last_seen newer than the start as it is', () => {
    const start = new Date(NOW.getTime() - 5 * 60_000);
    const seen = new Date(NOW.getTime() - 1000).toISOString();
    expect(withAbsenceGrace([worker('w', { last_seen: seen })], start).get('w')?.last_seen).toBe(seen);
  });
});
