import {
  DEFAULT_WORKER_OFFLINE_TIMEOUT_MS,
  describeFieldErrors,
  isVmScheduled,
  isWorkerOffline,
  labelsMatch,
  LABEL_WORKER_NAME,
  missingResources,
  nameFollowsFutureRule,
  parseFilters,
  parseLabels,
  parseResources,
  ResourceValidationError,
  resourcesFit,
  setCondition,
  sumResources,
  validateName,
  vmMatchesFilters,
  workerLabels,
  type Labels,
  type Resources,
  type VmCondition,
} from './index';

describe('validateName (orchard.md §2.10)', () => {
  it.each([
    ['plain', 'vm1'],
    ['every allowed punctuation', 'a:b-c_d.e'],
    ['upper case', 'MacMini-01'],
    ['only digits', '42'],
    ['a very long name (no length limit)', 'x'.repeat(500)],
  ])('accepts %s', (_case, name) => {
    expect(validateName('name', name)).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['undefined', undefined],
    ['null', null],
  ])('refuses an %s name as empty', (_case, name) => {
    expect(validateName('name', name)).toEqual({ field: 'name', message: 'must not be empty' });
  });

  it.each([
    ['a percent sign', 'vm%'],
    ['a space', 'my vm'],
    ['a slash', 'a/b'],
    ['a non-ASCII letter', 'vé'],
    ['a newline', 'vm\n'],
    ['an at sign', 'a@b'],
  ])('refuses %s as restricted characters', (_case, name) => {
    expect(validateName('workers[0].name', name)).toEqual({
      field: 'workers[0].name',
      message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]',
    });
  });
});

describe('nameFollowsFutureRule', () => {
  it.each([
    ['a', true],
    ['vm-1', true],
    ['0abc9', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['', false],
    ['Vm', false],
    ['-vm', false],
    ['vm-', false],
    ['vm_1', false],
    ['vm.1', false],
    ['vm:1', false],
  ])('%j → %s', (name, expected) => {
    expect(nameFollowsFutureRule(name)).toBe(expected);
  });
});

describe('labelsMatch (worker labels ⊇ VM labels)', () => {
  const worker: Labels = { role: 'ci', os: 'sequoia', gpu: '' };
  it.each<[string, Labels, Labels, boolean]>([
    ['empty VM labels match a labelled worker', {}, worker, true],
    ['empty VM labels match an unlabelled worker', {}, {}, true],
    ['a subset matches', { role: 'ci' }, worker, true],
    ['all labels match', { role: 'ci', os: 'sequoia', gpu: '' }, worker, true],
    ['an empty value must be present on the worker', { gpu: '' }, worker, true],
    ['a different value does not match', { role: 'prod' }, worker, false],
    ['values are case-sensitive', { role: 'CI' }, worker, false],
    ['a label the worker lacks does not match', { rack: '1' }, worker, false],
    ['an empty value the worker lacks does not match', { rack: '' }, worker, false],
    ['a labelled VM does not match an unlabelled worker', { role: 'ci' }, {}, false],
    ['one mismatch among matches fails', { role: 'ci', os: 'sonoma' }, worker, false],
    ['prototype names are ordinary labels', { constructor: 'x' }, {}, false],
    ['prototype names match when the worker has them', { constructor: 'x' }, { constructor: 'x' }, true],
  ])('%s', (_case, vm, offered, expected) => {
    expect(labelsMatch(vm, offered)).toBe(expected);
  });
});

describe('workerLabels (the automatic worker-name label, orchard-2026.md §1.2.10)', () => {
  it('adds org.cirruslabs.orchard.worker-name=<name> to the worker’s own labels', () => {
    expect(LABEL_WORKER_NAME).toBe('org.cirruslabs.orchard.worker-name');
    expect(workerLabels('mac-1', { pool: 'ios' })).toEqual({ pool: 'ios', [LABEL_WORKER_NAME]: 'mac-1' });
  });

  it('lets a VM pin itself to one worker', () => {
    const pin = { [LABEL_WORKER_NAME]: 'mac-1' };
    expect(labelsMatch(pin, workerLabels('mac-1', {}))).toBe(true);
    expect(labelsMatch(pin, workerLabels('mac-2', {}))).toBe(false);
  });

  it('wins over a label of that name the worker sent itself', () => {
    expect(workerLabels('mac-1', { [LABEL_WORKER_NAME]: 'mac-2' })).toEqual({ [LABEL_WORKER_NAME]: 'mac-1' });
  });
});

describe('resource accounting', () => {
  const T = 'org.cirruslabs.tart-vms';

  it.each<[string, Resources, Resources, Resources, boolean, string[]]>([
    ['nothing requested fits anywhere', {}, {}, {}, true, []],
    ['exactly the free amount fits', { [T]: 1 }, { [T]: 2 }, { [T]: 1 }, true, []],
    ['one more than free does not fit', { [T]: 2 }, { [T]: 2 }, { [T]: 1 }, false, [T]],
    ['a resource the worker lacks counts as 0', { gpu: 1 }, { [T]: 2 }, {}, false, ['gpu']],
    ['asking for 0 of a missing resource fits', { gpu: 0 }, {}, {}, true, []],
    ['missing used keys count as 0', { cores: 8 }, { cores: 8 }, { memory: 100 }, true, []],
    [
      'every missing resource is named',
      { [T]: 1, cores: 4, memory: 4096 },
      { [T]: 2, cores: 2, memory: 8192 },
      { [T]: 2 },
      false,
      [T, 'cores'],
    ],
    ['prototype names are ordinary resources', { toString: 0 }, {}, {}, true, []],
    ['prototype names are not found on the prototype', { toString: 1 }, {}, {}, false, ['toString']],
    ['an overcommitted worker has none of that resource left', { [T]: 1 }, { [T]: 1 }, { [T]: 3 }, false, [T]],
    ['asking for 0 fits even an overcommitted worker', { [T]: 0 }, { [T]: 1 }, { [T]: 3 }, true, []],
    [
      'an overcommitted resource does not lend to another',
      { [T]: 1, cores: 5 },
      { [T]: 1, cores: 4 },
      { [T]: 3 },
      false,
      [T, 'cores'],
    ],
    [
      'a third macOS VM does not fit the default two slots',
      { [T]: 1 },
      { [T]: 2 },
      sumResources([{ [T]: 1 }, { [T]: 1 }]),
      false,
      [T],
    ],
  ])('%s', (_case, requested, offered, used, fits, missing) => {
    expect(resourcesFit(requested, offered, used)).toBe(fits);
    expect(missingResources(requested, offered, used)).toEqual(missing);
  });

  it('sums maps key by key, treating missing keys as 0', () => {
    expect(sumResources([{ a: 1, b: 2 }, { b: 3, c: 4 }, {}, { a: 10 }])).toEqual({ a: 11, b: 5, c: 4 });
  });

  it('sums nothing to an empty map and accepts any iterable', () => {
    expect(sumResources([])).toEqual({});
    function* maps(): Generator<Resources> {
      yield { a: 1 };
      yield { a: 2 };
    }
    expect(sumResources(maps())).toEqual({ a: 3 });
  });

  it('does not change its inputs', () => {
    const first = { a: 1 };
    sumResources([first, { a: 2 }]);
    expect(first).toEqual({ a: 1 });
  });

  it('adds prototype-named resources as numbers, not as the prototype members', () => {
    // JSON.parse makes `__proto__` an own key, as a request body or a database row would.
    const fromJson = JSON.parse('{"constructor": 2, "__proto__": 3}') as Resources;
    const total = sumResources([{ constructor: 1 }, fromJson, fromJson]);
    expect(total['constructor']).toBe(5);
    expect(Object.getOwnPropertyDescriptor(total, '__proto__')?.value).toBe(6);
    expect(Object.keys(total).sort()).toEqual(['__proto__', 'constructor']);
    expect(JSON.parse(JSON.stringify(total))).toEqual(JSON.parse('{"constructor": 5, "__proto__": 6}'));
  });
});

describe('parseLabels', () => {
  it.each<[string, string[], Labels]>([
    ['nothing', [], {}],
    ['one pair', ['role=ci'], { role: 'ci' }],
    ['comma-separated pairs', ['role=ci,os=sequoia'], { role: 'ci', os: 'sequoia' }],
    ['repeated flags', ['role=ci', 'os=sequoia'], { role: 'ci', os: 'sequoia' }],
    ['both forms mixed', ['a=1,b=2', 'c=3'], { a: '1', b: '2', c: '3' }],
    ['empty items are skipped', ['a=1,,b=2,', ''], { a: '1', b: '2' }],
    ['the value keeps later "=" signs', ['expr=a=b'], { expr: 'a=b' }],
    ['an empty value is allowed', ['gpu='], { gpu: '' }],
    ['the last repetition wins', ['a=1', 'a=2'], { a: '2' }],
  ])('parses %s', (_case, items, expected) => {
    expect(parseLabels(items)).toEqual(expected);
  });

  it.each([
    ['no "="', ['role'], 'invalid pair "role": expected key=value'],
    ['an empty key', ['=ci'], 'invalid pair "=ci": expected key=value'],
    ['a bad pair after good ones', ['a=1,oops'], 'invalid pair "oops": expected key=value'],
  ])('refuses %s', (_case, items, message) => {
    expect(() => parseLabels(items)).toThrow(message);
  });

  it('keeps a `__proto__` label as an own key', () => {
    const labels = parseLabels(['__proto__=x']);
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(labelsMatch(labels, parseLabels(['__proto__=x']))).toBe(true);
    expect(labelsMatch(labels, {})).toBe(false);
  });
});

describe('parseResources', () => {
  it.each<[string, string[], Resources]>([
    ['nothing', [], {}],
    ['comma-separated pairs', ['org.cirruslabs.tart-vms=2,gpu=1'], { 'org.cirruslabs.tart-vms': 2, gpu: 1 }],
    ['repeated flags', ['a=1', 'b=0'], { a: 1, b: 0 }],
    ['leading zeros', ['a=007'], { a: 7 }],
    ['the largest safe integer', [`a=${Number.MAX_SAFE_INTEGER}`], { a: Number.MAX_SAFE_INTEGER }],
  ])('parses %s', (_case, items, expected) => {
    expect(parseResources(items)).toEqual(expected);
  });

  it.each([
    ['a negative amount', 'a=-1'],
    ['a fraction', 'a=1.5'],
    ['a word', 'a=many'],
    ['an empty amount', 'a='],
    ['an exponent', 'a=1e3'],
    ['a hexadecimal amount', 'a=0x10'],
    ['spaces', 'a= 1'],
    ['an unsafe integer', 'a=9007199254740993'],
  ])('refuses %s, naming the pair', (_case, pair) => {
    expect(() => parseResources([pair])).toThrow(
      `invalid resource "${pair}": the amount must be a non-negative integer`,
    );
  });

  it('refuses a pair without "="', () => {
    expect(() => parseResources(['gpu'])).toThrow('invalid pair "gpu": expected key=value');
  });
});

describe('parseFilters and vmMatchesFilters (GET /v1/vms?filter=)', () => {
  it.each([
    ['', []],
    ['worker=w1', [{ path: 'worker', value: 'w1' }]],
    ['worker=', [{ path: 'worker', value: '' }]],
    ['worker=a=b', [{ path: 'worker', value: 'a=b' }]],
    [
      'worker=w1,foo=bar',
      [
        { path: 'worker', value: 'w1' },
        { path: 'foo', value: 'bar' },
      ],
    ],
  ])('parses %j', (text, expected) => {
    expect(parseFilters(text)).toEqual(expected);
  });

  it.each(['abc', '=w1', 'worker=w1,abc'])('refuses %j', (text) => {
    expect(() => parseFilters(text)).toThrow(/^invalid filter ".*": expected path=value$/);
  });

  it('names the bad pair', () => {
    expect(() => parseFilters('worker=w1,abc')).toThrow('invalid filter "abc": expected path=value');
  });

  it.each([
    ['no filter matches every VM', '', 'w1', true],
    ['no filter matches an unassigned VM', '', '', true],
    ['worker= matches the VM on that worker', 'worker=w1', 'w1', true],
    ['worker= does not match another worker', 'worker=w1', 'w2', false],
    ['worker= does not match by prefix', 'worker=w', 'w1', false],
    ['an empty worker matches unassigned VMs', 'worker=', '', true],
    ['any other path matches nothing', 'foo=bar', 'w1', false],
    ['a path other than worker matches nothing even when the value fits', 'name=w1', 'w1', false],
    ['an unknown path spoils a matching worker filter', 'worker=w1,foo=bar', 'w1', false],
    ['two different workers match nothing', 'worker=w1,worker=w2', 'w1', false],
  ])('%s', (_case, text, worker, expected) => {
    expect(vmMatchesFilters({ worker }, parseFilters(text))).toBe(expected);
  });
});

describe('describeFieldErrors and ResourceValidationError', () => {
  it.each([
    ['nothing', [], ''],
    ['a plain message gets the path', [{ field: 'image', message: 'must not be empty' }], 'image: must not be empty'],
    [
      'a nested path is kept',
      [{ field: 'hostDirs[0].path', message: 'must not be empty' }],
      'hostDirs[0].path: must not be empty',
    ],
    [
      'a message naming its field is not prefixed twice',
      [{ field: 'name', message: 'name should not be empty' }],
      'name should not be empty',
    ],
    [
      'a nested message naming its field gets the full path instead',
      [{ field: 'hostDirs[1].name', message: 'name must be a string' }],
      'hostDirs[1].name must be a string',
    ],
    [
      'a message merely starting with the field name is prefixed',
      [{ field: 'image', message: 'images are required' }],
      'image: images are required',
    ],
    ['an error without a field is the message alone', [{ field: '', message: 'bad body' }], 'bad body'],
    [
      'several problems are joined',
      [
        { field: 'name', message: 'must not be empty' },
        { field: 'image', message: 'must not be empty' },
      ],
      'name: must not be empty; image: must not be empty',
    ],
  ])('%s', (_case, errors, expected) => {
    expect(describeFieldErrors(errors)).toBe(expected);
  });

  it('makes the message of ResourceValidationError and keeps every error', () => {
    const errors = [
      { field: 'name', message: 'must not be empty' },
      { field: 'hostDirs[0]', message: 'is disallowed' },
    ];
    const err = new ResourceValidationError(errors);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ResourceValidationError');
    expect(err.message).toBe('name: must not be empty; hostDirs[0]: is disallowed');
    expect(err.errors).toEqual(errors);
  });
});

describe('isWorkerOffline', () => {
  const now = new Date('2025-06-01T12:00:00Z');
  const ago = (ms: number): string => new Date(now.getTime() - ms).toISOString();
  const timeout = DEFAULT_WORKER_OFFLINE_TIMEOUT_MS;

  it('uses a three-minute default timeout', () => {
    expect(DEFAULT_WORKER_OFFLINE_TIMEOUT_MS).toBe(180_000);
  });

  it.each([
    ['just seen', ago(0), false],
    ['seen a minute ago', ago(60_000), false],
    ['seen exactly at the timeout', ago(timeout), false],
    ['seen one millisecond past the timeout', ago(timeout + 1), true],
    ['seen an hour ago', ago(3_600_000), true],
    ['seen in the future (clock skew)', ago(-60_000), false],
    ['never seen (zero time)', '0001-01-01T00:00:00Z', true],
    ['a Go RFC 3339 time with nanoseconds and an offset', '2025-06-01T13:59:00.123456789+02:00', false],
    ['the same, past the timeout', '2025-06-01T13:56:59.999999999+02:00', true],
    ['an unparsable time', 'yesterday', true],
    ['an empty time', '', true],
  ])('%s', (_case, lastSeen, expected) => {
    expect(isWorkerOffline({ last_seen: lastSeen }, now, timeout)).toBe(expected);
  });

  it('honours a custom timeout', () => {
    expect(isWorkerOffline({ last_seen: ago(10_000) }, now, 5_000)).toBe(true);
    expect(isWorkerOffline({ last_seen: ago(10_000) }, now, 20_000)).toBe(false);
  });
});

describe('VM conditions', () => {
  it.each<[string, VmCondition[], string, boolean]>([
    ['scheduled:true', [{ type: 'scheduled', state: 'true' }], '', true],
    ['scheduled:false despite a worker', [{ type: 'scheduled', state: 'false' }], 'w1', false],
    ['legacy data without the condition but with a worker', [{ type: 'running', state: 'true' }], 'w1', true],
    ['legacy data without the condition nor a worker', [], '', false],
  ])('isVmScheduled: %s', (_case, conditions, worker, expected) => {
    expect(isVmScheduled({ conditions, worker })).toBe(expected);
  });

  it('setCondition appends a new type', () => {
    const before: VmCondition[] = [{ type: 'scheduled', state: 'false' }];
    expect(setCondition(before, 'running', true)).toEqual([
      { type: 'scheduled', state: 'false' },
      { type: 'running', state: 'true' },
    ]);
  });

  it('setCondition replaces an existing type where it stands', () => {
    const before: VmCondition[] = [
      { type: 'scheduled', state: 'false' },
      { type: 'running', state: 'true' },
    ];
    expect(setCondition(before, 'scheduled', true)).toEqual([
      { type: 'scheduled', state: 'true' },
      { type: 'running', state: 'true' },
    ]);
    expect(setCondition(before, 'running', false)).toEqual([
      { type: 'scheduled', state: 'false' },
      { type: 'running', state: 'false' },
    ]);
  });

  it('setCondition to the current state gives an equal array (no spurious change)', () => {
    const before: VmCondition[] = [
      { type: 'scheduled', state: 'true' },
      { type: 'running', state: 'true' },
    ];
    expect(setCondition(before, 'scheduled', true)).toEqual(before);
  });

  it('setCondition leaves its input alone and collapses legacy duplicates', () => {
    const before: VmCondition[] = [
      { type: 'running', state: 'true' },
      { type: 'scheduled', state: 'false' },
      { type: 'running', state: 'false' },
    ];
    const copy = structuredClone(before);
    expect(setCondition(before, 'running', true)).toEqual([
      { type: 'running', state: 'true' },
      { type: 'scheduled', state: 'false' },
    ]);
    expect(before).toEqual(copy);
  });

  it('setCondition result feeds isVmScheduled', () => {
    const scheduled = setCondition([{ type: 'scheduled', state: 'false' }], 'scheduled', true);
    expect(isVmScheduled({ conditions: scheduled, worker: 'w1' })).toBe(true);
    const unscheduled = setCondition(scheduled, 'scheduled', false);
    expect(isVmScheduled({ conditions: unscheduled, worker: 'w1' })).toBe(false);
  });
});
