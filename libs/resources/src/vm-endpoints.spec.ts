import {
  applyVmSpecUpdate,
  DEFAULT_CLUSTER_SETTINGS,
  newVm,
  ResourceValidationError,
  validateEndpoints,
  workerPortClaims,
  workerPortClaimsFit,
  type FieldError,
  type Vm,
  type VmCreateInput,
  type VmEndpoint,
} from './index';

// VM endpoints (orchard-2026.md §1.2.2): validation, defaults, updates and the worker ports they claim.

const NOW = new Date('2026-09-02T12:00:00.000Z');

function vm(input: Partial<VmCreateInput> = {}): Vm {
  return newVm({ name: 'web', image: 'img', ...input }, DEFAULT_CLUSTER_SETTINGS, 'uid-1', NOW);
}

function tcp(name: string, port: number, workerPortRange?: { min: number; max: number }): VmEndpoint {
  return { name, protocol: 'tcp', target: { vm: { port } }, ...(workerPortRange ? { workerPortRange } : {}) };
}

function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ResourceValidationError);
    return (err as ResourceValidationError).errors;
  }
  throw new Error('expected the call to throw');
}

describe('validateEndpoints', () => {
  it('accepts TCP and UDP endpoints with and without a worker port range', () => {
    expect(
      validateEndpoints([
        tcp('http', 80),
        { name: 'dns', protocol: 'udp', target: { vm: { port: 53 } }, workerPortRange: { min: 5300, max: 5399 } },
        tcp('ssh', 22, { min: 2222, max: 2222 }),
      ]),
    ).toEqual([]);
  });

  it('names the item and the field of every problem', () => {
    expect(
      validateEndpoints([
        tcp('', 80),
        { name: 'a', protocol: 'sctp' as never, target: { vm: { port: 0 } } },
        tcp('a', 65536, { min: 0, max: 70000 }),
        tcp('b', 22, { min: 3000, max: 2000 }),
      ]),
    ).toEqual([
      { field: 'endpoints[0].name', message: 'must not be empty' },
      { field: 'endpoints[1].protocol', message: 'must be one of: tcp, udp' },
      { field: 'endpoints[1].target.vm.port', message: 'must be a port between 1 and 65535' },
      { field: 'endpoints[2].name', message: 'endpoint "a" is declared more than once' },
      { field: 'endpoints[2].target.vm.port', message: 'must be a port between 1 and 65535' },
      { field: 'endpoints[2].workerPortRange.min', message: 'must be a port between 1 and 65535' },
      { field: 'endpoints[2].workerPortRange.max', message: 'must be a port between 1 and 65535' },
      { field: 'endpoints[3].workerPortRange', message: 'min 3000 must not exceed max 2000' },
    ]);
  });

  it('refuses a pinned worker port taken by netSoftnetExpose or another endpoint of the VM', () => {
    expect(
      validateEndpoints([tcp('a', 22, { min: 2222, max: 2222 }), tcp('b', 80, { min: 8080, max: 8080 })], ['8080:80']),
    ).toEqual([
      {
        field: 'endpoints[1].workerPortRange',
        message: 'worker port 8080 is taken by netSoftnetExpose or another endpoint',
      },
    ]);
    expect(validateEndpoints([tcp('a', 22, { min: 2222, max: 2222 }), tcp('b', 23, { min: 2222, max: 2222 })])).toEqual(
      [
        {
          field: 'endpoints[1].workerPortRange',
          message: 'worker port 2222 is taken by netSoftnetExpose or another endpoint',
        },
      ],
    );
  });
});

describe('newVm with endpoints', () => {
  it('stores them, and omits the field when there are none', () => {
    expect(vm({ endpoints: [tcp('http', 80)] }).endpoints).toEqual([tcp('http', 80)]);
    expect('endpoints' in vm()).toBe(false);
    expect('endpoints' in vm({ endpoints: [] })).toBe(false);
  });

  it('refuses invalid ones with the item named', () => {
    expect(errorsOf(() => vm({ endpoints: [tcp('a', 1), tcp('b', 0)] }))).toEqual([
      { field: 'endpoints[1].target.vm.port', message: 'must be a port between 1 and 65535' },
    ]);
  });
});

describe('applyVmSpecUpdate with endpoints', () => {
  const scheduled = (v: Vm): Vm => ({ ...v, worker: 'w', conditions: [{ type: 'scheduled', state: 'true' }] });

  it('lets endpoints change after the VM is scheduled', () => {
    const current = scheduled(vm({ endpoints: [tcp('http', 80)] }));
    expect(applyVmSpecUpdate(current, { endpoints: [tcp('http', 8080)] })?.endpoints).toEqual([tcp('http', 8080)]);
  });

  it('keeps them when the body leaves them out, and clears them with []', () => {
    const current = vm({ endpoints: [tcp('http', 80)] });
    expect(applyVmSpecUpdate(current, {})).toBeUndefined();
    const cleared = applyVmSpecUpdate(current, { endpoints: [] });
    expect(cleared).toBeDefined();
    expect(cleared?.endpoints).toBeUndefined();
    expect({ ...current, ...cleared }.endpoints).toBeUndefined();
  });

  it('refuses invalid ones', () => {
    expect(errorsOf(() => applyVmSpecUpdate(vm(), { endpoints: [tcp('x', 80, { min: 9, max: 8 })] }))).toEqual([
      { field: 'endpoints[0].workerPortRange', message: 'min 9 must not exceed max 8' },
    ]);
  });
});

describe('worker port claims', () => {
  it('claims netSoftnetExpose external ports and endpoint ranges, not OS-picked ports', () => {
    expect(
      workerPortClaims({
        netSoftnetExpose: ['2222:22'],
        endpoints: [tcp('a', 80), tcp('b', 81, { min: 8000, max: 8010 })],
      }),
    ).toEqual([
      { min: 2222, max: 2222 },
      { min: 8000, max: 8010 },
    ]);
  });

  it('fits claims when each can get a port of its own (earliest deadline first)', () => {
    expect(
      workerPortClaimsFit([
        { min: 1, max: 2 },
        { min: 1, max: 1 },
      ]),
    ).toBe(true);
    expect(
      workerPortClaimsFit([
        { min: 1, max: 2 },
        { min: 1, max: 1 },
        { min: 2, max: 2 },
      ]),
    ).toBe(false);
    expect(
      workerPortClaimsFit([
        { min: 5, max: 5 },
        { min: 5, max: 5 },
      ]),
    ).toBe(false);
    expect(
      workerPortClaimsFit([
        { min: 1, max: 3 },
        { min: 2, max: 3 },
        { min: 1, max: 1 },
      ]),
    ).toBe(true);
  });
});
