import {
  applyVmSpecUpdate,
  DEFAULT_CLUSTER_SETTINGS,
  exposedWorkerPorts,
  newVm,
  ResourceValidationError,
  validateVmCreate,
  VM_FIELDS,
  VmSpecConflictError,
  vmLocalName,
  type ClusterSettings,
  type FieldError,
  type Vm,
  type VmCreateInput,
  type VmSpec,
} from './index';

const UID = '6c1e0b7a-3f52-4d8e-9a41-2b9f0c7d1e55';
const NOW = new Date('2025-06-01T12:00:00.000Z');
const NO_POLICIES: ClusterSettings = DEFAULT_CLUSTER_SETTINGS;
const T = 'org.cirruslabs.tart-vms';
const VETU_MESSAGE = 'runtime "vetu" does not support this field';

function vm(input: Partial<VmCreateInput> = {}, settings: ClusterSettings = NO_POLICIES): Vm {
  return newVm({ name: 'foo', image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest', ...input }, settings, UID, NOW);
}

/** The error a call throws; fails the test when it does not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

function validationErrors(fn: () => unknown): FieldError[] {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(ResourceValidationError);
  return (err as ResourceValidationError).errors;
}

function specOf(v: Vm): VmSpec {
  return {
    os: v.os,
    arch: v.arch,
    runtime: v.runtime,
    'net-softnet': v['net-softnet'],
    netSoftnet: v.netSoftnet,
    netSoftnetAllow: v.netSoftnetAllow,
    netSoftnetBlock: v.netSoftnetBlock,
    suspendable: v.suspendable,
    usbAccessories: v.usbAccessories,
    netSoftnetExpose: v.netSoftnetExpose,
    endpoints: v.endpoints,
    powerState: v.powerState,
  };
}

describe('newVm defaults (orchard.md §1.3 steps 4–8)', () => {
  it('fills every field of a minimal {name, image} VM', () => {
    expect(vm()).toEqual({
      name: 'foo',
      createdAt: '2025-06-01T12:00:00.000Z',
      version: 0,
      uid: UID,
      image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest',
      imagePullPolicy: 'IfNotPresent',
      cpu: 0,
      memory: 0,
      diskSize: 0,
      'net-bridged': '',
      headless: false,
      nested: false,
      os: 'darwin',
      arch: 'arm64',
      runtime: 'tart',
      'net-softnet': false,
      netSoftnet: false,
      netSoftnetAllow: [],
      netSoftnetBlock: [],
      suspendable: false,
      audio: false,
      clipboard: false,
      usbAccessories: undefined,
      netSoftnetExpose: [],
      powerState: 'running',
      localName: `grove-foo-${UID}-0`,
      tartName: `grove-foo-${UID}-0`,
      observedGeneration: 0,
      conditions: [{ type: 'scheduled', state: 'false' }],
      status: 'pending',
      status_message: '',
      worker: '',
      assignedCPU: 0,
      assignedMemory: 0,
      username: '',
      password: '',
      restart_policy: 'Never',
      restarted_at: '0001-01-01T00:00:00Z',
      restart_count: 0,
      randomSerial: false,
      resources: { [T]: 1 },
      labels: {},
      hostDirs: [],
      image_fqn: '',
      scheduled_at: '0001-01-01T00:00:00Z',
      started_at: '0001-01-01T00:00:00Z',
      generation: 0,
    });
  });

  it('writes exactly the API fields, nothing more', () => {
    // startup_script, endpoints, hostProcesses and observedEndpoints only when there are some: Orchard omits them.
    const omitted: readonly string[] = ['startup_script', 'endpoints', 'hostProcesses', 'observedEndpoints'];
    expect(Object.keys(vm()).sort()).toEqual(VM_FIELDS.filter((f) => !omitted.includes(f)).sort());
  });

  it('names the on-disk VM grove-<name>-<uid>-<restartCount>', () => {
    expect(vmLocalName('a.b', 'u', 3)).toBe('grove-a.b-u-3');
    const made = newVm({ name: 'ci:1', image: 'i' }, NO_POLICIES, 'uid-2', NOW);
    expect(made.localName).toBe('grove-ci:1-uid-2-0');
    expect(made.tartName).toBe(made.localName);
  });

  it('keeps what the user chose', () => {
    const made = vm({
      imagePullPolicy: 'Always',
      restart_policy: 'OnFailure',
      cpu: 8,
      memory: 16384,
      diskSize: 100,
      'net-bridged': 'en0',
      headless: true,
      nested: true,
      arch: 'amd64',
      username: 'ci',
      password: 'secret',
      randomSerial: true,
      labels: { role: 'ci' },
      startup_script: { script_content: 'echo hi', env: { A_1: 'x' } },
    });
    expect(made).toMatchObject({
      imagePullPolicy: 'Always',
      restart_policy: 'OnFailure',
      cpu: 8,
      memory: 16384,
      diskSize: 100,
      'net-bridged': 'en0',
      headless: true,
      nested: true,
      arch: 'amd64',
      username: 'ci',
      password: 'secret',
      randomSerial: true,
      labels: { role: 'ci' },
      startup_script: { script_content: 'echo hi', env: { A_1: 'x' } },
    });
  });

  it('ignores server-owned fields smuggled into the input', () => {
    const input = { name: 'foo', image: 'i', powerState: 'stopped', status: 'failed' } as VmCreateInput;
    const made = newVm(input, NO_POLICIES, UID, NOW);
    expect(made.powerState).toBe('running');
    expect(made.status).toBe('pending');
  });

  it.each<[string, Partial<VmCreateInput>, Vm['resources']]>([
    ['darwin + tart gets one tart-vms slot', {}, { [T]: 1 }],
    ['explicit darwin + tart gets one tart-vms slot', { os: 'darwin', runtime: 'tart' }, { [T]: 1 }],
    ['other resources are kept beside the slot', { resources: { gpu: 1 } }, { gpu: 1, [T]: 1 }],
    ['an explicit slot count is kept', { resources: { [T]: 2 } }, { [T]: 2 }],
    ['an explicit zero is kept', { resources: { [T]: 0 } }, { [T]: 0 }],
    ['linux gets no slot', { os: 'linux' }, {}],
    ['linux keeps its resources', { os: 'linux', resources: { gpu: 2 } }, { gpu: 2 }],
    ['vetu gets no slot', { runtime: 'vetu' }, {}],
    ['linux on vetu gets no slot', { os: 'linux', runtime: 'vetu' }, {}],
  ])('resources: %s', (_case, input, expected) => {
    expect(vm(input).resources).toEqual(expected);
  });

  it('does not change the caller’s objects, nor share them with the VM', () => {
    const resources = { gpu: 1 };
    const labels = { role: 'ci' };
    const hostDirs = [{ name: 'src', path: '/work/src' }];
    const netSoftnetAllow = ['10.0.0.0/8'];
    const startup_script = { script_content: 'env', env: { A: '1' } };
    const made = vm(
      { resources, labels, hostDirs, netSoftnetAllow, startup_script },
      { ...NO_POLICIES, hostDirPolicies: [{ pathPrefix: '/work' }] },
    );
    expect(resources).toEqual({ gpu: 1 });
    made.labels['x'] = 'y';
    made.netSoftnetAllow.push('0.0.0.0/0');
    made.startup_script!.env!['B'] = '2';
    expect(labels).toEqual({ role: 'ci' });
    expect(netSoftnetAllow).toEqual(['10.0.0.0/8']);
    expect(startup_script).toEqual({ script_content: 'env', env: { A: '1' } });
    expect(hostDirs).toEqual([{ name: 'src', path: '/work/src' }]);
    expect(made.hostDirs).toEqual([{ name: 'src', path: '/work/src', ro: false }]);
  });

  it('keeps a startup script without env as it came', () => {
    expect(vm({ startup_script: { script_content: 'echo hi' } }).startup_script).toEqual({
      script_content: 'echo hi',
    });
  });

  it.each<[string, Partial<VmCreateInput>, boolean, string[], string[]]>([
    ['nothing set', {}, false, [], []],
    ['everything off explicitly', { netSoftnet: false, 'net-softnet': false }, false, [], []],
    ['empty lists', { netSoftnetAllow: [], netSoftnetBlock: [] }, false, [], []],
    ['net-softnet (deprecated alias)', { 'net-softnet': true }, true, [], []],
    ['netSoftnet', { netSoftnet: true }, true, [], []],
    ['netSoftnetAllow', { netSoftnetAllow: ['10.0.0.0/8'] }, true, ['10.0.0.0/8'], []],
    ['netSoftnetBlock', { netSoftnetBlock: ['0.0.0.0/0'] }, true, [], ['0.0.0.0/0']],
    [
      'allow and block',
      { netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'], netSoftnetBlock: ['0.0.0.0/0'] },
      true,
      ['10.0.0.0/8', '192.168.0.0/16'],
      ['0.0.0.0/0'],
    ],
  ])('softnet normalisation: %s', (_case, input, softnet, allow, block) => {
    const made = vm(input);
    expect(made.netSoftnet).toBe(softnet);
    expect(made['net-softnet']).toBe(softnet);
    expect(made.netSoftnetAllow).toEqual(allow);
    expect(made.netSoftnetBlock).toEqual(block);
  });
});

describe('newVm validation', () => {
  it.each([
    ['an empty name', { name: '' }, [{ field: 'name', message: 'must not be empty' }]],
    [
      'a restricted name',
      { name: 'vm%' },
      [{ field: 'name', message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]' }],
    ],
    ['an empty image', { image: '' }, [{ field: 'image', message: 'must not be empty' }]],
    ['a missing image', { image: undefined }, [{ field: 'image', message: 'must not be empty' }]],
    [
      'a bad environment variable name',
      { startup_script: { script_content: 'env', env: { OK_1: 'a', '1X': 'b', 'A-B': 'c' } } },
      [
        { field: 'startup_script.env.1X', message: 'is not a valid environment variable name' },
        { field: 'startup_script.env.A-B', message: 'is not a valid environment variable name' },
      ],
    ],
  ])('refuses %s', (_case, input, errors) => {
    expect(validationErrors(() => vm(input as Partial<VmCreateInput>))).toEqual(errors);
  });

  it.each<[string, Partial<VmCreateInput>]>([
    ['net-softnet', { 'net-softnet': true }],
    ['netSoftnet', { netSoftnet: true }],
    ['netSoftnetAllow', { netSoftnetAllow: ['10.0.0.0/8'] }],
    ['netSoftnetBlock', { netSoftnetBlock: ['0.0.0.0/0'] }],
    ['hostDirs', { hostDirs: [{ name: 'src', path: '/work/src' }] }],
    ['suspendable', { suspendable: true }],
    ['audio', { audio: true }],
    ['clipboard', { clipboard: true }],
    ['usbAccessories', { usbAccessories: true }],
    ['netSoftnetExpose', { netSoftnetExpose: ['2222:22'] }],
  ])('runtime vetu refuses %s', (field, input) => {
    const settings = { ...NO_POLICIES, hostDirPolicies: [{ pathPrefix: '/work' }] };
    expect(validationErrors(() => vm({ runtime: 'vetu', ...input }, settings))).toEqual([
      { field, message: VETU_MESSAGE },
    ]);
  });

  it('runtime vetu accepts those fields when they are off or empty', () => {
    const made = vm({
      runtime: 'vetu',
      os: 'linux',
      'net-softnet': false,
      netSoftnet: false,
      netSoftnetAllow: [],
      netSoftnetBlock: [],
      hostDirs: [],
      suspendable: false,
    });
    expect(made.runtime).toBe('vetu');
    expect(made.netSoftnet).toBe(false);
  });

  it('runtime tart accepts all of them', () => {
    const made = vm(
      { suspendable: true, netSoftnetAllow: ['10.0.0.0/8'], hostDirs: [{ name: 'src', path: '/work/src' }] },
      { ...NO_POLICIES, hostDirPolicies: [{ pathPrefix: '/work' }] },
    );
    expect(made.suspendable).toBe(true);
  });

  describe('audio, clipboard, USB accessories and exposed ports (orchard-2026.md §1.2.7–1.2.9)', () => {
    it('stores what the user chose', () => {
      const made = vm({
        audio: true,
        clipboard: true,
        usbAccessories: false,
        netSoftnetExpose: ['2222:22', '80:8080'],
      });
      expect(made).toMatchObject({
        audio: true,
        clipboard: true,
        usbAccessories: false,
        netSoftnetExpose: ['2222:22', '80:8080'],
      });
    });

    it('lets exposed ports imply Softnet, as Tart does', () => {
      expect(vm({ netSoftnetExpose: ['2222:22'] })).toMatchObject({ netSoftnet: true, 'net-softnet': true });
    });

    it.each([
      ['22', '"22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['0:22', '"0:22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['2222:65536', '"2222:65536" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['+2222:22', '"+2222:22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['2222:-22', '"2222:-22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['1:2:3', '"1:2:3" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['a:b', '"a:b" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
      ['', '"" must be EXTERNAL:INTERNAL with both ports between 1 and 65535'],
    ])('refuses the exposed port %j', (entry, message) => {
      expect(validationErrors(() => vm({ netSoftnetExpose: ['8080:80', entry] }))).toEqual([
        { field: 'netSoftnetExpose[1]', message },
      ]);
    });

    it('accepts the extreme ports', () => {
      expect(vm({ netSoftnetExpose: ['1:65535', '65535:1'] }).netSoftnetExpose).toEqual(['1:65535', '65535:1']);
    });

    it('refuses an external port exposed twice, naming the port', () => {
      expect(validationErrors(() => vm({ netSoftnetExpose: ['2222:22', '2223:22', '2222:2222'] }))).toEqual([
        { field: 'netSoftnetExpose[2]', message: 'external port 2222 is exposed more than once' },
      ]);
    });

    it('names the worker ports a VM takes, skipping what does not parse, nothing for VMs stored before', () => {
      expect(exposedWorkerPorts({ netSoftnetExpose: ['2222:22', 'junk', '8080:80'] })).toEqual([2222, 8080]);
      expect(exposedWorkerPorts({ netSoftnetExpose: [] })).toEqual([]);
      expect(exposedWorkerPorts({} as Vm)).toEqual([]);
    });

    it('runtime vetu accepts them when off or empty', () => {
      const made = vm({ runtime: 'vetu', os: 'linux', audio: false, clipboard: false, netSoftnetExpose: [] });
      expect(made).toMatchObject({ audio: false, clipboard: false, netSoftnetExpose: [] });
    });
  });

  describe('host directories', () => {
    const policies = (...hostDirPolicies: ClusterSettings['hostDirPolicies']): ClusterSettings => ({
      ...NO_POLICIES,
      hostDirPolicies,
    });
    const disallowed = (text: string, i = 0): FieldError => ({
      field: `hostDirs[${i}]`,
      message: `host directory "${text}" is disallowed by policy, check your cluster settings`,
    });

    it.each<[string, ClusterSettings, VmCreateInput['hostDirs'], FieldError[]]>([
      [
        'no policies refuse every directory',
        NO_POLICIES,
        [{ name: 'src', path: '/work/src' }],
        [disallowed('src:/work/src')],
      ],
      [
        'a read-only policy refuses a read-write mount',
        policies({ pathPrefix: '/work', ro: true }),
        [{ name: 'src', path: '/work/src' }],
        [disallowed('src:/work/src')],
      ],
      [
        'a path outside every policy',
        policies({ pathPrefix: '/work' }),
        [{ name: 'etc', path: '/etc', ro: true }],
        [disallowed('etc:/etc:ro')],
      ],
      [
        '".." is refused before any policy is consulted',
        policies({ pathPrefix: '/' }),
        [{ name: 'up', path: '/work/../etc' }],
        [{ field: 'hostDirs[0].path', message: 'must not contain ".."' }],
      ],
      [
        'an empty name',
        policies({ pathPrefix: '/work' }),
        [{ name: '', path: '/work/src' }],
        [{ field: 'hostDirs[0].name', message: 'must not be empty' }],
      ],
      [
        'an empty path',
        policies({ pathPrefix: '/work' }),
        [{ name: 'src', path: '' }],
        [{ field: 'hostDirs[0].path', message: 'must not be empty' }],
      ],
      [
        'each directory is checked and reported at its index',
        policies({ pathPrefix: '/work' }),
        [
          { name: 'ok', path: '/work/a' },
          { name: 'bad', path: '/srv/b' },
          { name: '', path: '' },
        ],
        [
          disallowed('bad:/srv/b', 1),
          { field: 'hostDirs[2].name', message: 'must not be empty' },
          { field: 'hostDirs[2].path', message: 'must not be empty' },
        ],
      ],
    ])('%s', (_case, settings, hostDirs, errors) => {
      expect(validationErrors(() => vm({ hostDirs }, settings))).toEqual(errors);
    });

    it.each<[string, ClusterSettings, NonNullable<VmCreateInput['hostDirs']>]>([
      [
        'a read-write mount under a read-write policy',
        policies({ pathPrefix: '/work' }),
        [{ name: 's', path: '/work/s' }],
      ],
      [
        'a read-only mount under a read-only policy',
        policies({ pathPrefix: '/work', ro: true }),
        [{ name: 's', path: '/work/s', ro: true }],
      ],
      [
        'an archive URL under an https policy',
        policies({ pathPrefix: 'https://example.test/' }),
        [{ name: 'a', path: 'https://example.test/a.tar.gz', ro: true }],
      ],
    ])('accepts %s', (_case, settings, hostDirs) => {
      expect(vm({ hostDirs }, settings).hostDirs).toEqual(hostDirs.map((d) => ({ ...d, ro: d.ro ?? false })));
    });
  });

  it('lists every problem at once, with field paths', () => {
    const input: VmCreateInput = {
      name: 'bad name',
      image: '',
      runtime: 'vetu',
      suspendable: true,
      hostDirs: [
        { name: 'up', path: '/work/../etc' },
        { name: 'out', path: '/srv' },
      ],
    };
    const settings: ClusterSettings = { ...NO_POLICIES, hostDirPolicies: [{ pathPrefix: '/work' }] };
    const err = thrown(() => newVm(input, settings, UID, NOW)) as ResourceValidationError;
    expect(err).toBeInstanceOf(ResourceValidationError);
    expect(err.errors).toEqual([
      { field: 'name', message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]' },
      { field: 'image', message: 'must not be empty' },
      { field: 'hostDirs', message: VETU_MESSAGE },
      { field: 'suspendable', message: VETU_MESSAGE },
      { field: 'hostDirs[0].path', message: 'must not contain ".."' },
      {
        field: 'hostDirs[1]',
        message: 'host directory "out:/srv" is disallowed by policy, check your cluster settings',
      },
    ]);
    expect(err.message).toContain('name: contains restricted characters');
    expect(err.message).toContain('hostDirs[0].path: must not contain ".."');
    expect(validateVmCreate(input, settings)).toEqual(err.errors);
  });

  it('validateVmCreate finds nothing wrong with a good VM', () => {
    expect(validateVmCreate({ name: 'ok', image: 'i' }, NO_POLICIES)).toEqual([]);
  });
});

describe('applyVmSpecUpdate (PUT /v1/vms/{name})', () => {
  const suspendable = (): Vm => vm({ suspendable: true });

  it('returns undefined when the spec is unchanged', () => {
    const current = vm({ netSoftnetAllow: ['10.0.0.0/8'] });
    expect(applyVmSpecUpdate(current, specOf(current))).toBeUndefined();
  });

  it('treats a body with only the immutable fields of a plain VM as unchanged', () => {
    expect(applyVmSpecUpdate(vm(), {})).toBeUndefined();
    expect(applyVmSpecUpdate(vm(), { os: 'darwin', arch: 'arm64', runtime: 'tart' })).toBeUndefined();
  });

  it.each<[string, Partial<VmSpec>, Partial<VmSpec>]>([
    ['turning softnet on', { netSoftnet: true }, { netSoftnet: true, 'net-softnet': true }],
    ['the deprecated alias', { 'net-softnet': true }, { netSoftnet: true, 'net-softnet': true }],
    [
      'an allow list implies softnet',
      { netSoftnetAllow: ['10.0.0.0/8'] },
      { netSoftnet: true, 'net-softnet': true, netSoftnetAllow: ['10.0.0.0/8'] },
    ],
    [
      'a block list implies softnet',
      { netSoftnetBlock: ['0.0.0.0/0'] },
      { netSoftnet: true, 'net-softnet': true, netSoftnetBlock: ['0.0.0.0/0'] },
    ],
    ['making the VM suspendable', { suspendable: true }, { suspendable: true }],
    ['stopping', { powerState: 'stopped' }, { powerState: 'stopped' }],
  ])('returns the new spec for %s', (_case, requested, changed) => {
    const current = vm();
    const before = structuredClone(current);
    expect(applyVmSpecUpdate(current, { ...specOf(current), ...requested })).toEqual({
      ...specOf(current),
      ...changed,
    });
    expect(current).toEqual(before);
  });

  it('sees one comma-joined entry and two entries as different lists', () => {
    const current = vm({ netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'] });
    const next = applyVmSpecUpdate(current, { ...specOf(current), netSoftnetAllow: ['10.0.0.0/8,192.168.0.0/16'] });
    expect(next?.netSoftnetAllow).toEqual(['10.0.0.0/8,192.168.0.0/16']);
  });

  it('sees a reordered allow list as a change', () => {
    const current = vm({ netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'] });
    const next = applyVmSpecUpdate(current, {
      ...specOf(current),
      netSoftnetAllow: ['192.168.0.0/16', '10.0.0.0/8'],
    });
    expect(next?.netSoftnetAllow).toEqual(['192.168.0.0/16', '10.0.0.0/8']);
  });

  it('turns softnet off when the full body leaves it out', () => {
    const current = vm({ netSoftnet: true });
    expect(applyVmSpecUpdate(current, { powerState: 'running' })).toMatchObject({
      netSoftnet: false,
      'net-softnet': false,
    });
  });

  describe('USB accessories and exposed ports (orchard-2026.md §1.2.8–1.2.9)', () => {
    it('toggles USB accessories, a spec change', () => {
      const current = vm();
      expect(applyVmSpecUpdate(current, { ...specOf(current), usbAccessories: false })).toEqual({
        ...specOf(current),
        usbAccessories: false,
      });
      const off = vm({ usbAccessories: false });
      expect(applyVmSpecUpdate(off, { ...specOf(off), usbAccessories: true })?.usbAccessories).toBe(true);
    });

    it('keeps both when a body predates them', () => {
      const current = vm({ usbAccessories: false, netSoftnetExpose: ['2222:22'] });
      expect(applyVmSpecUpdate(current, { powerState: 'running', netSoftnet: true })).toBeUndefined();
      expect(applyVmSpecUpdate(current, { powerState: 'stopped' })).toMatchObject({
        usbAccessories: false,
        netSoftnetExpose: ['2222:22'],
        netSoftnet: true,
        powerState: 'stopped',
      });
    });

    it('changes exposed ports of a VM that is not scheduled yet, checking them', () => {
      const current = vm();
      expect(applyVmSpecUpdate(current, { ...specOf(current), netSoftnetExpose: ['2222:22'] })).toMatchObject({
        netSoftnetExpose: ['2222:22'],
        netSoftnet: true,
      });
      expect(
        validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), netSoftnetExpose: ['2222'] })),
      ).toEqual([
        {
          field: 'netSoftnetExpose[0]',
          message: '"2222" must be EXTERNAL:INTERNAL with both ports between 1 and 65535',
        },
      ]);
    });

    it('refuses changing exposed ports once the VM is scheduled, but accepts them unchanged', () => {
      const current: Vm = {
        ...vm({ netSoftnetExpose: ['2222:22'] }),
        worker: 'mac-1',
        conditions: [{ type: 'scheduled', state: 'true' }],
      };
      for (const netSoftnetExpose of [[], ['2222:22', '8080:80'], ['2223:22']]) {
        expect(validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), netSoftnetExpose }))).toEqual([
          { field: 'netSoftnetExpose', message: 'cannot be changed once the VM is scheduled' },
        ]);
      }
      expect(applyVmSpecUpdate(current, specOf(current))).toBeUndefined();
    });

    it('refuses toggling USB accessories of a suspendable VM', () => {
      const current = suspendable();
      for (const usbAccessories of [true, false]) {
        expect(validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), usbAccessories }))).toEqual([
          { field: 'usbAccessories', message: 'cannot be toggled for a suspendable VM' },
        ]);
      }
    });
  });

  it.each<[string, Partial<VmSpec>, FieldError[]]>([
    ['os', { os: 'linux' }, [{ field: 'os', message: 'cannot be modified' }]],
    ['arch', { arch: 'amd64' }, [{ field: 'arch', message: 'cannot be modified' }]],
    ['runtime', { runtime: 'vetu' }, [{ field: 'runtime', message: 'cannot be modified' }]],
    [
      'all three',
      { os: 'linux', arch: 'amd64', runtime: 'vetu' },
      [
        { field: 'os', message: 'cannot be modified' },
        { field: 'arch', message: 'cannot be modified' },
        { field: 'runtime', message: 'cannot be modified' },
      ],
    ],
    [
      'suspending a VM that is not suspendable',
      { powerState: 'suspended' },
      [{ field: 'powerState', message: 'only suspendable VMs can be suspended' }],
    ],
    [
      // The running VM was started without --suspendable; the same body cannot make it so and suspend it.
      'suspending while turning suspendable on',
      { suspendable: true, powerState: 'suspended' },
      [{ field: 'powerState', message: 'only suspendable VMs can be suspended' }],
    ],
    [
      'os and power state together, reporting both',
      { os: 'linux', powerState: 'suspended' },
      [
        { field: 'os', message: 'cannot be modified' },
        { field: 'powerState', message: 'only suspendable VMs can be suspended' },
      ],
    ],
  ])('refuses changing %s', (_case, requested, errors) => {
    const current = vm();
    expect(validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), ...requested }))).toEqual(errors);
  });

  it('names the field in the message', () => {
    const err = thrown(() => applyVmSpecUpdate(vm(), { os: 'linux' })) as Error;
    expect(err.message).toBe('os: cannot be modified');
  });

  describe('a suspendable VM', () => {
    it('can be suspended', () => {
      const current = suspendable();
      expect(applyVmSpecUpdate(current, { ...specOf(current), powerState: 'suspended' })).toEqual({
        ...specOf(current),
        powerState: 'suspended',
      });
    });

    it.each<[string, Partial<VmSpec>, FieldError[]]>([
      [
        'cannot drop suspendable',
        { suspendable: false },
        [{ field: 'suspendable', message: 'cannot be turned off for a suspendable VM' }],
      ],
      [
        'cannot turn softnet on',
        { netSoftnet: true },
        [{ field: 'netSoftnet', message: 'cannot be changed for a suspendable VM' }],
      ],
      [
        'cannot turn softnet on through an allow list',
        { netSoftnetAllow: ['10.0.0.0/8'] },
        [{ field: 'netSoftnet', message: 'cannot be changed for a suspendable VM' }],
      ],
      [
        'reports both at once',
        { suspendable: false, netSoftnet: true },
        [
          { field: 'suspendable', message: 'cannot be turned off for a suspendable VM' },
          { field: 'netSoftnet', message: 'cannot be changed for a suspendable VM' },
        ],
      ],
    ])('%s', (_case, requested, errors) => {
      const current = suspendable();
      expect(validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), ...requested }))).toEqual(errors);
    });

    it('cannot turn softnet off either', () => {
      const current = vm({ suspendable: true, netSoftnet: true });
      expect(
        validationErrors(() =>
          applyVmSpecUpdate(current, { ...specOf(current), netSoftnet: false, 'net-softnet': false }),
        ),
      ).toEqual([{ field: 'netSoftnet', message: 'cannot be changed for a suspendable VM' }]);
    });

    it('may change its softnet lists as long as softnet stays on', () => {
      const current = vm({ suspendable: true, netSoftnet: true });
      expect(applyVmSpecUpdate(current, { ...specOf(current), netSoftnetBlock: ['0.0.0.0/0'] })).toMatchObject({
        netSoftnet: true,
        netSoftnetBlock: ['0.0.0.0/0'],
      });
    });
  });

  it.each<[string, Partial<VmSpec>]>([
    ['netSoftnet', { netSoftnet: true }],
    ['net-softnet', { 'net-softnet': true }],
    ['netSoftnetAllow', { netSoftnetAllow: ['10.0.0.0/8'] }],
    ['netSoftnetBlock', { netSoftnetBlock: ['0.0.0.0/0'] }],
    ['suspendable', { suspendable: true }],
    ['usbAccessories', { usbAccessories: true }],
    ['netSoftnetExpose', { netSoftnetExpose: ['2222:22'] }],
  ])('a vetu VM refuses %s, naming that field', (field, requested) => {
    const current = vm({ os: 'linux', runtime: 'vetu' });
    expect(validationErrors(() => applyVmSpecUpdate(current, { ...specOf(current), ...requested }))).toEqual([
      { field, message: VETU_MESSAGE },
    ]);
  });

  it('a vetu VM accepts its own unchanged spec and a stop', () => {
    const current = vm({ os: 'linux', runtime: 'vetu' });
    expect(applyVmSpecUpdate(current, specOf(current))).toBeUndefined();
    expect(applyVmSpecUpdate(current, { ...specOf(current), powerState: 'stopped' })?.powerState).toBe('stopped');
  });

  describe('terminal states', () => {
    const stopped = (): Vm => ({ ...vm(), powerState: 'stopped' });
    const suspended = (): Vm => ({ ...suspendable(), powerState: 'suspended' });

    it.each<[string, () => Vm, (current: Vm) => Partial<VmSpec>]>([
      ['an unchanged body on a stopped VM', stopped, (c) => specOf(c)],
      ['back to running from stopped', stopped, (c) => ({ ...specOf(c), powerState: 'running' })],
      ['a softnet change on a stopped VM', stopped, (c) => ({ ...specOf(c), netSoftnet: true })],
      ['suspending a stopped VM', stopped, (c) => ({ ...specOf(c), powerState: 'suspended' })],
      ['changing os of a stopped VM', stopped, (c) => ({ ...specOf(c), os: 'linux' })],
      ['an unchanged body on a suspended VM', suspended, (c) => specOf(c)],
      ['resuming a suspended VM', suspended, (c) => ({ ...specOf(c), powerState: 'running' })],
      ['an empty body on a suspended VM', suspended, () => ({})],
    ])('refuses %s as a conflict', (_case, make, body) => {
      const current = make();
      const err = thrown(() => applyVmSpecUpdate(current, body(current)));
      expect(err).toBeInstanceOf(VmSpecConflictError);
      expect((err as Error).message).toBe(`cannot transition from a terminal power state "${current.powerState}"`);
    });

    it.each<[string, Partial<Vm>]>([
      ['a failed VM', { status: 'failed' }],
      ['a failed and stopped VM', { status: 'failed', powerState: 'stopped' }],
    ])('refuses any update of %s', (_case, state) => {
      const current: Vm = { ...vm(), ...state };
      for (const body of [specOf(current), { ...specOf(current), netSoftnet: true }, { os: 'linux' as const }]) {
        const err = thrown(() => applyVmSpecUpdate(current, body));
        expect(err).toBeInstanceOf(VmSpecConflictError);
        expect((err as Error).message).toBe('cannot update VM in a terminal state');
        expect((err as Error).name).toBe('VmSpecConflictError');
      }
    });

    it('lets a running VM that was pending or running be updated', () => {
      for (const status of ['pending', 'running'] as const) {
        const current: Vm = { ...vm(), status };
        expect(applyVmSpecUpdate(current, { ...specOf(current), powerState: 'stopped' })?.powerState).toBe('stopped');
      }
    });
  });
});
