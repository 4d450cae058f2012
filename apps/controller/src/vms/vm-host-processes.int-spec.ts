import { waitFor } from '@grove/testing';
import { SchedulerService } from '../scheduler/scheduler.service';
import { TestController } from '../test-support/test-controller';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';

/**
 * VM `hostProcesses` (issue 12, orchard-2026.md §1.2.3) through the REST API: create, get, list, validation naming item
 * and field, the roles that set and change them, updates, the `host-processes-ready` condition of state reports, and
 * placement on workers with capability `host-processes`.
 */
describe('VM host processes', () => {
  let ctl: TestController;
  let writer: string;
  let processWriter: string;

  beforeAll(async () => {
    ctl = await TestController.start({ schedulerIntervalMs: 60_000 });
    writer = await ctl.createAccount('hp-compute-writer', ['compute:read', 'compute:write']);
    processWriter = await ctl.createAccount('hp-process-writer', ['compute:write', 'host-process:write']);
  });
  afterAll(async () => {
    await ctl.close();
  });
  afterEach(() => jest.restoreAllMocks());

  let seq = 0;
  const fresh = (prefix = 'vm') => `${prefix}-${++seq}`;
  const create = (body: Record<string, unknown>, auth?: string) => ctl.request('POST', '/v1/vms', { body, auth });
  const getVm = async (name: string) => (await ctl.request('GET', `/v1/vms/${name}`)).body;
  const echo = { name: 'echo', program: '/usr/local/bin/echo-server', args: ['--listen', '${ORCHARD_PROCESS_SOCKET}'] };
  const proxy = { name: 'proxy', program: 'socat', env: { LOG_LEVEL: 'debug', A_FIRST: '1' } };

  async function registerWorker(capabilities: string[]): Promise<string> {
    const worker = fresh('worker');
    const res = await ctl.request('POST', '/v1/workers', {
      body: { name: worker, machine_id: worker, resources: { 'org.cirruslabs.tart-vms': 100 }, capabilities },
    });
    expect(res.status).toBe(200);
    return worker;
  }

  async function schedule(): Promise<void> {
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
  }

  async function placedOn(worker: string, body: Record<string, unknown>): Promise<string> {
    const name = fresh();
    const res = await create({ name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': worker }, ...body });
    expect(res.status).toBe(200);
    await schedule();
    await waitFor('placement', async () => (await getVm(name)).worker === worker);
    return name;
  }

  it('stores and serves them on create, get and list (env in key order); a VM without them omits the field', async () => {
    const name = fresh();
    const res = await create({ name, image: 'i', hostProcesses: [echo, proxy] });
    expect(res.status).toBe(200);
    const stored = [echo, { name: 'proxy', program: 'socat', env: { A_FIRST: '1', LOG_LEVEL: 'debug' } }];
    expect(res.body.hostProcesses).toEqual(stored);
    expect(Object.keys(res.body.hostProcesses[1].env)).toEqual(['A_FIRST', 'LOG_LEVEL']);
    expect((await getVm(name)).hostProcesses).toEqual(stored);
    const list = (await ctl.request('GET', '/v1/vms')).body as { name: string; hostProcesses?: unknown }[];
    expect(list.find((vm) => vm.name === name)?.hostProcesses).toEqual(stored);

    expect((await create({ name: fresh(), image: 'i' })).body).not.toHaveProperty('hostProcesses');
    expect((await create({ name: fresh(), image: 'i', hostProcesses: [] })).body).not.toHaveProperty('hostProcesses');
  });

  it.each<[string, unknown[], { field: string; message: string }[]]>([
    [
      'an empty program',
      [echo, { name: 'x', program: '' }],
      [{ field: 'hostProcesses[1].program', message: 'must not be empty' }],
    ],
    [
      'a program that is not a string',
      [{ name: 'x', program: 7 }],
      [{ field: 'hostProcesses[0].program', message: 'program must be a string' }],
    ],
    [
      'a missing program',
      [{ name: 'x' }],
      [{ field: 'hostProcesses[0].program', message: 'program must be a string' }],
    ],
    [
      'a name used twice',
      [echo, { ...proxy, name: 'echo' }],
      [{ field: 'hostProcesses[1].name', message: 'host process "echo" is declared more than once' }],
    ],
    [
      'a name with restricted characters',
      [{ ...echo, name: 'a b' }],
      [
        {
          field: 'hostProcesses[0].name',
          message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]',
        },
      ],
    ],
    [
      'args that are not strings',
      [{ ...echo, args: ['--port', 8080] }],
      [{ field: 'hostProcesses[0].args', message: 'args must be an array of strings' }],
    ],
    [
      'env with a value that is not a string',
      [{ ...echo, env: { PORT: 8080 } }],
      [{ field: 'hostProcesses[0].env', message: 'env must be an object mapping variable names to strings' }],
    ],
    [
      'env with a name a shell cannot export',
      [{ ...echo, env: { 'BAD-NAME': 'x' } }],
      [{ field: 'hostProcesses[0].env.BAD-NAME', message: 'is not a valid environment variable name' }],
    ],
    [
      'an unknown field',
      [{ ...echo, cwd: '/tmp' }],
      [{ field: 'hostProcesses[0].cwd', message: 'property cwd should not exist' }],
    ],
    [
      'an item that is not an object',
      ['echo'],
      [{ field: 'hostProcesses[0]', message: 'each host process must be an object {name, program, args, env}' }],
    ],
  ])('refuses %s with a 400 naming the item and field', async (_case, hostProcesses, errors) => {
    const res = await create({ name: fresh(), image: 'i', hostProcesses });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(errors);
    expect(res.body.message).toContain(errors[0].field);
  });

  it('refuses a list that is not an array, naming the field', async () => {
    const res = await create({ name: fresh(), image: 'i', hostProcesses: echo });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toEqual({ field: 'hostProcesses', message: 'hostProcesses must be an array' });
  });

  it('needs host-process:write besides compute:write to create a VM with host processes', async () => {
    const denied = await create({ name: fresh(), image: 'i', hostProcesses: [echo] }, writer);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({
      message: 'all of the following roles must be present: compute:write, host-process:write',
    });
    expect((await create({ name: fresh(), image: 'i', hostProcesses: [echo] }, processWriter)).status).toBe(200);
    // Without processes (none, or an empty list) compute:write is enough.
    expect((await create({ name: fresh(), image: 'i' }, writer)).status).toBe(200);
    expect((await create({ name: fresh(), image: 'i', hostProcesses: [] }, writer)).status).toBe(200);
  });

  it('needs host-process:write to change them, not to send them back unchanged', async () => {
    const name = fresh();
    const created = (await create({ name, image: 'i', hostProcesses: [echo] })).body;
    // Orchard's client sends the whole VM with every update: unchanged processes need no more than compute:write.
    const unchanged = await ctl.request('PUT', `/v1/vms/${name}`, {
      body: { ...created, netSoftnetAllow: ['10.0.0.0/8'] },
      auth: writer,
    });
    expect(unchanged.status).toBe(200);
    expect(unchanged.body).toMatchObject({ hostProcesses: [echo], generation: 1 });

    for (const hostProcesses of [[echo, proxy], [{ ...echo, args: ['--verbose'] }], []]) {
      const denied = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, hostProcesses }, auth: writer });
      expect(denied.status).toBe(403);
      expect(denied.body.message).toBe('all of the following roles must be present: compute:write, host-process:write');
    }
    expect((await getVm(name)).hostProcesses).toEqual([echo]);

    const added = await ctl.request('PUT', `/v1/vms/${name}`, {
      body: { name, hostProcesses: [echo, proxy] },
      auth: processWriter,
    });
    expect(added.status).toBe(200);
    expect(added.body.generation).toBe(2);
    expect(added.body.hostProcesses.map((p: { name: string }) => p.name)).toEqual(['echo', 'proxy']);
    // A body without them keeps them; `[]` removes them all.
    expect((await ctl.request('PUT', `/v1/vms/${name}`, { body: { name }, auth: writer })).body.generation).toBe(2);
    const removed = await ctl.request('PUT', `/v1/vms/${name}`, {
      body: { name, hostProcesses: [] },
      auth: processWriter,
    });
    expect(removed.body.generation).toBe(3);
    expect(removed.body).not.toHaveProperty('hostProcesses');
  });

  it('refuses a bad update with 400 before looking at roles', async () => {
    const name = fresh();
    await create({ name, image: 'i' });
    const res = await ctl.request('PUT', `/v1/vms/${name}`, {
      body: { name, hostProcesses: [{ name: 'x', program: ' ' }] },
      auth: writer,
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: 'hostProcesses[0].program', message: 'must not be empty' }]);
  });

  it('places VMs with host processes only on workers with capability host-processes', async () => {
    const old = await registerWorker([]);
    const name = fresh();
    await create({ name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': old }, hostProcesses: [echo] });
    await schedule();
    const vm = await getVm(name);
    expect(vm.worker).toBe('');
    expect(vm.status_message).toContain(`${old}: lacks capability host-processes`);
  });

  it('tells the VM’s worker at once when its host processes change', async () => {
    const worker = await registerWorker(['host-processes']);
    const name = await placedOn(worker, { hostProcesses: [echo] });
    const notify = jest.spyOn(ctl.app.get(WorkerSessionRegistry), 'notifyAnywhere');
    const res = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, hostProcesses: [proxy] } });
    expect(res.status).toBe(200);
    expect(notify).toHaveBeenCalledWith(worker, { sync_vms: {} });
  });

  it('stores host-processes-ready from state reports and keeps it through reports without it and the scheduler', async () => {
    const worker = await registerWorker(['host-processes']);
    const name = await placedOn(worker, { hostProcesses: [echo] });
    const condition = async (type: string) =>
      ((await getVm(name)).conditions as { type: string; state: string }[]).find((c) => c.type === type)?.state;

    const ready = await ctl.request('PUT', `/v1/vms/${name}/state`, {
      body: {
        status: 'running',
        conditions: [
          { type: 'running', state: 'true' },
          { type: 'host-processes-ready', state: 'true' },
        ],
      },
    });
    expect(ready.status).toBe(200);
    expect(ready.body.conditions).toEqual([
      { type: 'scheduled', state: 'true' },
      { type: 'running', state: 'true' },
      { type: 'host-processes-ready', state: 'true' },
    ]);
    // A report about something else leaves it as it was; the scheduler's passes keep it.
    await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status_message: 'still fine' } });
    await schedule();
    expect(await condition('host-processes-ready')).toBe('true');
    expect(await condition('scheduled')).toBe('true');

    const notReady = await ctl.request('PUT', `/v1/vms/${name}/state`, {
      body: { conditions: [{ type: 'host-processes-ready', state: 'false' }] },
    });
    expect(notReady.status).toBe(200);
    expect(await condition('host-processes-ready')).toBe('false');
    expect(await condition('running')).toBe('true');

    // A worker reports no `scheduled`: that one stays the controller's.
    await ctl.request('PUT', `/v1/vms/${name}/state`, {
      body: { conditions: [{ type: 'scheduled', state: 'false' }] },
    });
    expect(await condition('scheduled')).toBe('true');
  });
});
