import {
  DEFAULT_CLUSTER_SETTINGS,
  ENDPOINTS_UNSUPPORTED_MESSAGE,
  newVm,
  setCondition,
  type Vm,
  type VmEndpoint,
  type Worker,
} from '@grove/resources';
import { checkVmHealth, VM_WORKER_DELETED } from './health';
import { planPlacement } from './placement';

// The scheduler and VM endpoints (orchard-2026.md §1.2.2): capability vm-endpoints, worker port clashes with
// netSoftnetExpose and other endpoints, endpoints of a VM already on an old worker, observedEndpoints cleared.

const NOW = new Date('2026-11-23T12:00:00Z');
const OFFLINE = 180_000;
let seq = 0;

function vm(name: string, overrides: Partial<Vm> = {}): Vm {
  seq++;
  const base = newVm(
    { name, image: 'img' },
    DEFAULT_CLUSTER_SETTINGS,
    `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    new Date(NOW.getTime() - 3_600_000 + seq * 1000),
  );
  return { ...base, ...overrides };
}

function scheduledOn(v: Vm, worker: string): Vm {
  return { ...v, worker, conditions: setCondition(v.conditions, 'scheduled', true) };
}

function worker(name: string, capabilities: string[] = ['vm-endpoints', 'vm-exposed-ports']): Worker {
  return {
    name,
    createdAt: NOW.toISOString(),
    last_seen: NOW.toISOString(),
    machine_id: name,
    scheduling_paused: false,
    resources: { 'org.cirruslabs.tart-vms': 10 },
    labels: {},
    defaultCPU: 0,
    defaultMemory: 0,
    arch: 'arm64',
    runtime: 'tart',
    capabilities,
  };
}

function tcp(name: string, range?: { min: number; max: number }): VmEndpoint {
  return { name, protocol: 'tcp', target: { vm: { port: 22 } }, ...(range ? { workerPortRange: range } : {}) };
}

const plan = (vms: Vm[], workers: Worker[]) =>
  planPlacement({ vms, workers, profile: 'optimize-utilization', now: NOW, offlineTimeoutMs: OFFLINE });
const placed = (result: ReturnType<typeof plan>) => result.assignments.map((a) => `${a.vm}@${a.worker}`);

describe('placement of VMs with endpoints', () => {
  it('needs a worker with capability vm-endpoints', () => {
    const result = plan([vm('ep', { endpoints: [tcp('ssh')] }), vm('plain')], [worker('a', []), worker('b')]);
    expect(placed(result)).toEqual(['ep@b', 'plain@b']);
    expect(plan([vm('alone', { endpoints: [tcp('ssh')] })], [worker('a', ['vm-exposed-ports'])]).unplaced).toEqual([
      expect.objectContaining({ reason: 'waiting for a worker: a: lacks capability vm-endpoints' }),
    ]);
  });

  it('places VMs with host processes only on workers with capability host-processes', () => {
    const hp = { hostProcesses: [{ name: 'echo', program: 'echo-server' }] };
    const result = plan([vm('hp', hp), vm('plain')], [worker('a'), worker('b', ['host-processes'])]);
    expect(placed(result)).toEqual(['hp@b', 'plain@b']);
    expect(plan([vm('alone', hp)], [worker('a')]).unplaced).toEqual([
      expect.objectContaining({ reason: 'waiting for a worker: a: lacks capability host-processes' }),
    ]);
  });

  it('keeps pinned endpoint ports and netSoftnetExpose ports of different VMs apart', () => {
    const held = scheduledOn(vm('held', { netSoftnetExpose: ['2222:22'] }), 'a');
    const result = plan(
      [held, vm('pin', { endpoints: [tcp('ssh', { min: 2222, max: 2222 })] }), vm('other', { endpoints: [tcp('x')] })],
      [worker('a'), worker('b')],
    );
    expect(placed(result)).toEqual(['pin@b', 'other@a']);
    expect(plan([held, vm('expose', { netSoftnetExpose: ['2222:22'] })], [worker('a')]).unplaced[0]?.reason).toBe(
      'waiting for a worker: a: port 2222 exposed by another VM',
    );
    const pinned = scheduledOn(vm('pinned', { endpoints: [tcp('ssh', { min: 2222, max: 2222 })] }), 'a');
    expect(plan([pinned, vm('expose2', { netSoftnetExpose: ['2222:22'] })], [worker('a')]).unplaced[0]?.reason).toBe(
      'waiting for a worker: a: port 2222 exposed by another VM',
    );
  });

  it('places a range while the worker has a free port in it, counting this pass’s own placements', () => {
    const range = { min: 8000, max: 8001 };
    const result = plan(
      [
        scheduledOn(vm('held', { endpoints: [tcp('a', { min: 8000, max: 8000 })] }), 'a'),
        vm('first', { endpoints: [tcp('r', range)] }),
        vm('second', { endpoints: [tcp('r', range)] }),
      ],
      [worker('a'), worker('b')],
    );
    expect(placed(result)).toEqual(['first@a', 'second@b']);
    expect(
      plan(
        [vm('both', { endpoints: [tcp('r', range)] }), vm('third', { endpoints: [tcp('r', range), tcp('s', range)] })],
        [worker('a')],
      ).unplaced,
    ).toEqual([
      expect.objectContaining({
        vm: 'third',
        reason: 'waiting for a worker: a: worker ports of its endpoints taken by other VMs',
      }),
    ]);
  });

  it('lets endpoints without a range share a worker: the OS picks their ports', () => {
    expect(
      placed(plan([vm('x', { endpoints: [tcp('a')] }), vm('y', { endpoints: [tcp('a')] })], [worker('a')])),
    ).toEqual(['x@a', 'y@a']);
  });
});

describe('health check and observedEndpoints', () => {
  const observed = [{ name: 'ssh', protocol: 'tcp' as const, workerPort: 40000, state: 'listening' as const }];

  it('marks every endpoint of a VM on a worker without vm-endpoints as error, once, without failing the VM', () => {
    const workers = new Map([['old', worker('old', [])]]);
    const onOld = scheduledOn(vm('v', { status: 'running', endpoints: [tcp('ssh'), tcp('web')] }), 'old');
    const marked = checkVmHealth(onOld, workers, NOW, OFFLINE);
    expect(marked).toMatchObject({ status: 'running', worker: 'old' });
    expect(marked?.observedEndpoints).toEqual([
      { name: 'ssh', protocol: 'tcp', state: 'error', message: ENDPOINTS_UNSUPPORTED_MESSAGE },
      { name: 'web', protocol: 'tcp', state: 'error', message: ENDPOINTS_UNSUPPORTED_MESSAGE },
    ]);
    expect(ENDPOINTS_UNSUPPORTED_MESSAGE).toBe("worker doesn't support VM endpoints");
    expect(checkVmHealth(marked!, workers, NOW, OFFLINE)).toBeUndefined();
    const capable = new Map([['old', worker('old')]]);
    expect(checkVmHealth(onOld, capable, NOW, OFFLINE)).toBeUndefined();
  });

  it('clears observedEndpoints with every transition it writes', () => {
    const running = scheduledOn(
      vm('v', { status: 'running', endpoints: [tcp('ssh')], observedEndpoints: observed }),
      'gone',
    );
    expect(checkVmHealth(running, new Map(), NOW, OFFLINE)).toMatchObject({
      status: 'failed',
      status_message: VM_WORKER_DELETED,
      observedEndpoints: undefined,
    });
  });
});
