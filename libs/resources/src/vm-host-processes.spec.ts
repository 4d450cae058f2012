import {
  applyVmSpecUpdate,
  DEFAULT_CLUSTER_SETTINGS,
  newVm,
  ResourceValidationError,
  sameHostProcesses,
  validateHostProcesses,
  VM_SPEC_FIELDS,
  type HostProcess,
  type Vm,
  type VmCreateInput,
} from './index';

// VM host processes (orchard-2026.md §1.2.3): validation, the stored form, and updates.

const NOW = new Date('2026-12-05T12:00:00.000Z');

function vm(input: Partial<VmCreateInput> = {}): Vm {
  return newVm({ name: 'web', image: 'img', ...input }, DEFAULT_CLUSTER_SETTINGS, 'uid-1', NOW);
}

const echo: HostProcess = {
  name: 'echo',
  program: '/usr/local/bin/echo-server',
  args: ['--socket', '${ORCHARD_PROCESS_SOCKET}'],
};

describe('validateHostProcesses', () => {
  it('accepts processes with and without args and env', () => {
    expect(validateHostProcesses([echo, { name: 'proxy', program: 'socat', env: { LOG_LEVEL: 'debug' } }])).toEqual([]);
  });

  it('names the item and field of every problem', () => {
    expect(
      validateHostProcesses([
        { name: '', program: 'x' },
        { name: 'a b', program: '  ' },
        { name: 'dup', program: 'x' },
        { name: 'dup', program: 'y', env: { 'BAD-NAME': 'v', OK: 1 as never } },
      ]),
    ).toEqual([
      { field: 'hostProcesses[0].name', message: 'must not be empty' },
      {
        field: 'hostProcesses[1].name',
        message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]',
      },
      { field: 'hostProcesses[1].program', message: 'must not be empty' },
      { field: 'hostProcesses[3].name', message: 'host process "dup" is declared more than once' },
      { field: 'hostProcesses[3].env.BAD-NAME', message: 'is not a valid environment variable name' },
      { field: 'hostProcesses[3].env.OK', message: 'must be a string' },
    ]);
  });

  it('refuses a VM whose host processes are wrong, listing every problem', () => {
    const err = (() => {
      try {
        vm({
          hostProcesses: [
            { name: 'x', program: '' },
            { name: 'x', program: 'p' },
          ],
        });
      } catch (e) {
        return e as ResourceValidationError;
      }
      throw new Error('expected the create to be refused');
    })();
    expect(err).toBeInstanceOf(ResourceValidationError);
    expect(err.message).toBe(
      'hostProcesses[0].program: must not be empty; hostProcesses[1].name: host process "x" is declared more than once',
    );
  });
});

describe('hostProcesses on a VM', () => {
  it('is a spec field (PUT /v1/vms/{name} may change it)', () => {
    expect(VM_SPEC_FIELDS).toContain('hostProcesses');
  });

  it('is omitted when a VM has none, as Orchard omits it', () => {
    expect('hostProcesses' in vm()).toBe(false);
    expect('hostProcesses' in vm({ hostProcesses: [] })).toBe(false);
  });

  it('is stored with empty args and env left out and env in key order', () => {
    const created = vm({ hostProcesses: [{ name: 'p', program: 'prog', args: [], env: { Z: '1', A: '2' } }] });
    expect(created.hostProcesses).toEqual([{ name: 'p', program: 'prog', env: { A: '2', Z: '1' } }]);
    expect(Object.keys(created.hostProcesses![0].env!)).toEqual(['A', 'Z']);
  });

  it('compares lists by content: env order and empty args do not count, process order does', () => {
    expect(
      sameHostProcesses(
        [{ name: 'p', program: 'x', env: { A: '1', B: '2' } }],
        [{ name: 'p', program: 'x', args: [], env: { B: '2', A: '1' } }],
      ),
    ).toBe(true);
    expect(sameHostProcesses(undefined, [])).toBe(true);
    const other: HostProcess = { name: 'q', program: 'y' };
    expect(sameHostProcesses([echo, other], [other, echo])).toBe(false);
    expect(sameHostProcesses([echo], [{ ...echo, args: ['--other'] }])).toBe(false);
  });
});

describe('applyVmSpecUpdate with hostProcesses', () => {
  it('adds processes to a VM that had none', () => {
    const next = applyVmSpecUpdate(vm(), { hostProcesses: [echo] });
    expect(next?.hostProcesses).toEqual([echo]);
  });

  it('keeps them when the body leaves them out, and removes them with []', () => {
    const current = vm({ hostProcesses: [echo] });
    expect(applyVmSpecUpdate(current, {})).toBeUndefined();
    const removed = applyVmSpecUpdate(current, { hostProcesses: [] });
    expect(removed).toBeDefined();
    expect(removed!.hostProcesses).toBeUndefined();
  });

  it('sees no change in the same processes written differently', () => {
    const current = vm({ hostProcesses: [{ name: 'p', program: 'x', env: { A: '1', B: '2' } }] });
    expect(
      applyVmSpecUpdate(current, { hostProcesses: [{ name: 'p', program: 'x', args: [], env: { B: '2', A: '1' } }] }),
    ).toBeUndefined();
  });

  it('refuses bad processes naming the field', () => {
    expect(() => applyVmSpecUpdate(vm(), { hostProcesses: [{ name: 'p', program: '' }] })).toThrow(
      'hostProcesses[0].program: must not be empty',
    );
  });
});
