import { isVmScheduled, type Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { TestController } from '../test-support/test-controller';
import { VmSchedulingService } from '../vms/vm-scheduling.service';
import { VmService } from '../vms/vm.service';
import { awaitsPlacement } from './placement';
import { PlacementPass } from './placement-pass';
import { placementShape, shapeFromColumn } from './placement-shape';
import { SchedulerService } from './scheduler.service';

// Scheduling passes whose cost follows what changed (issue 13): the columns Postgres keeps for the scheduler, batched
// writes guarded by version, counted pending reasons written once, health checks by cause. Creating a VM or changing a
// worker asks for a pass as ever; `pass()` waits for those, then runs one more.
describe('scheduler passes by shape and batch (issue 13)', () => {
  let ctl: TestController;
  let scheduler: SchedulerService;

  beforeAll(async () => {
    ctl = await TestController.start({ schedulerIntervalMs: 60_000, workerOfflineTimeoutMs: 60_000 });
    scheduler = ctl.app.get(SchedulerService);
  });
  afterAll(async () => {
    await ctl.close();
  });

  let seq = 0;
  const fresh = (p: string) => `${p}-${++seq}`;
  const getVm = async (name: string): Promise<Vm> => (await ctl.request('GET', `/v1/vms/${name}`)).body;
  const register = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await ctl.request('POST', '/v1/workers', { body: { name, machine_id: name, ...extra } });
    expect(res.status).toBe(200);
  };
  const create = async (name: string, extra: Record<string, unknown> = {}) => {
    const res = await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', ...extra } });
    expect(res.status).toBe(200);
  };
  const pass = async () => {
    await scheduler.idle();
    return scheduler.runPass();
  };

  it('keeps the columns the scheduler reads in step with every document', async () => {
    const pool = fresh('pool');
    await register(fresh('w'), {
      labels: { pool },
      capabilities: ['vm-endpoints'],
      resources: { 'org.cirruslabs.tart-vms': 4 },
    });
    const names = [fresh('plain'), fresh('rich'), fresh('stopped'), fresh('linux')];
    await create(names[0], { labels: { pool } });
    await create(names[1], {
      labels: { pool, gpu: 'yes' },
      resources: { gpu: 1, 'org.cirruslabs.tart-vms': 1 },
      netSoftnetExpose: ['2222:22'],
      endpoints: [
        { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 9000, max: 9010 } },
        { name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } },
      ],
    });
    await create(names[2], { labels: { pool } });
    await ctl.request('PUT', `/v1/vms/${names[2]}`, { body: { name: names[2], powerState: 'stopped' } });
    await create(names[3], { os: 'linux', labels: { pool } });
    await pass();

    const rows: { name: string; scheduled: boolean; awaiting_placement: boolean; placement: unknown }[] =
      await ctl.dataSource.query(
        'SELECT name, scheduled, awaiting_placement, placement, status_message FROM vms WHERE name = ANY($1)',
        [names],
      );
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      const vm = await getVm(row.name);
      expect({ name: row.name, scheduled: row.scheduled, awaiting: row.awaiting_placement }).toEqual({
        name: row.name,
        scheduled: isVmScheduled(vm),
        awaiting: awaitsPlacement(vm),
      });
      expect(shapeFromColumn(row.placement)).toEqual(placementShape(vm));
    }
    // The plain and the Linux VM are placed; the stopped one waits for a start; the rich one for a worker with a GPU.
    expect((await getVm(names[0])).worker).not.toBe('');
    expect((await getVm(names[3])).worker).not.toBe('');
    expect((await getVm(names[2])).worker).toBe('');
    expect((await getVm(names[1])).status_message).toMatch('lacks label gpu=yes');
  });

  it('writes a decision only to a VM still as it was read', async () => {
    const name = fresh('raced');
    await create(name, { labels: { pool: fresh('nowhere') } });
    const before = await ctl.app.get(VmService).get(name);
    // Someone else writes the VM between the read and the write of the decision.
    await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, powerState: 'stopped' } });
    const vms = ctl.app.get(VmSchedulingService);
    expect(await vms.writeIfUnchanged([{ before, after: { ...before, status_message: 'stale' } }])).toEqual([]);
    expect(await getVm(name)).toMatchObject({ powerState: 'stopped', status_message: '' });

    const current = await ctl.app.get(VmService).get(name);
    const [written] = await vms.writeIfUnchanged([{ before: current, after: { ...current, status_message: 'fresh' } }]);
    expect(written.version).toBeGreaterThan(current.version);
    expect(await getVm(name)).toMatchObject({
      powerState: 'stopped',
      status_message: 'fresh',
      version: written.version,
    });
  });

  it('explains a wait by counting workers per cause, and writes the reason again only when it changes', async () => {
    const gpu = fresh('gpu');
    await register(fresh('plain'));
    await register(fresh('plain'));
    const paused = fresh('paused-gpu');
    await register(paused, { labels: { gpu }, resources: { 'org.cirruslabs.tart-vms': 1 } });
    await ctl.request('PUT', `/v1/workers/${paused}`, { body: { name: paused, scheduling_paused: true } });
    const name = fresh('wants-gpu');
    await create(name, { labels: { gpu } });
    await pass();
    const workers: unknown[] = (await ctl.request('GET', '/v1/workers')).body;
    const waiting = await getVm(name);
    expect(waiting.status_message).toBe(
      `waiting for a worker: ${workers.length - 1} workers: lacks label gpu=${gpu}; ${paused}: scheduling paused`,
    );

    // The same situation: the VM is not written again (no new version, no watch event).
    await pass();
    expect((await getVm(name)).version).toBe(waiting.version);

    await ctl.request('PUT', `/v1/workers/${paused}`, { body: { name: paused, scheduling_paused: false } });
    await pass();
    expect(await getVm(name)).toMatchObject({ worker: paused, status_message: '' });
  });

  it('frees the slot of a stopped VM in the pass that notices, and gives it to the next VM', async () => {
    const w = fresh('one-slot');
    await register(w, { labels: { pin: w }, resources: { 'org.cirruslabs.tart-vms': 1 } });
    const [first, second] = [fresh('first'), fresh('second')];
    await create(first, { labels: { pin: w } });
    await create(second, { labels: { pin: w } });
    await pass();
    expect((await getVm(first)).worker).toBe(w);
    expect((await getVm(second)).status_message).toContain(`${w}: not enough org.cirruslabs.tart-vms`);

    await ctl.request('PUT', `/v1/vms/${first}`, { body: { name: first, powerState: 'stopped' } });
    const result = await pass();
    expect(result).toMatchObject({ assigned: 1, healthChanges: 1 });
    expect((await getVm(first)).conditions).toContainEqual({ type: 'scheduled', state: 'false' });
    expect(await getVm(second)).toMatchObject({ worker: w, status_message: '' });
  });

  it('places a burst first come first served, and fails every VM of a worker that went away', async () => {
    const pool = fresh('burst');
    const [a, b] = [`${pool}-a`, `${pool}-b`];
    await register(b, { labels: { pool }, resources: { 'org.cirruslabs.tart-vms': 100 } });
    await register(a, { labels: { pool }, resources: { 'org.cirruslabs.tart-vms': 100 } });
    // Created all at once: the passes they ask for are coalesced, each placing many VMs in one batch.
    const names = Array.from({ length: 130 }, (_, i) => `${pool}-vm-${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((name) => create(name, { labels: { pool } })));
    await pass();
    const vms = await Promise.all(names.map(getVm));
    vms.sort((x, y) => Date.parse(x.createdAt) - Date.parse(y.createdAt) || x.name.localeCompare(y.name));
    // optimize-utilization fills the first worker by name before the second, in creation order.
    expect(vms.map((vm) => vm.worker)).toEqual([...Array<string>(100).fill(a), ...Array<string>(30).fill(b)]);

    await ctl.request('DELETE', `/v1/workers/${a}`);
    await pass();
    const after = await Promise.all(vms.map((vm) => getVm(vm.name)));
    expect(after.map((vm) => vm.status_message)).toEqual([
      ...Array<string>(100).fill("VM is assigned to a worker that doesn't exist anymore"),
      ...Array<string>(30).fill(''),
    ]);
  });

  it('keeps the worker ports of placed VMs apart, as summed by the database', async () => {
    const w = fresh('ports');
    await register(w, {
      labels: { pin: w },
      resources: { 'org.cirruslabs.tart-vms': 4 },
      capabilities: ['vm-exposed-ports', 'vm-endpoints'],
    });
    const range = { min: 9000, max: 9000 };
    const endpoint = { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: range };
    const [exposed, pinned] = [fresh('exposed'), fresh('pinned')];
    await create(exposed, { labels: { pin: w }, netSoftnetExpose: ['2222:22'] });
    await create(pinned, { labels: { pin: w }, endpoints: [endpoint] });
    await pass();
    expect((await getVm(exposed)).worker).toBe(w);
    expect((await getVm(pinned)).worker).toBe(w);

    const [clash, rangeClash, free] = [fresh('clash'), fresh('range-clash'), fresh('free')];
    await create(clash, { labels: { pin: w }, netSoftnetExpose: ['2222:2222'] });
    await create(rangeClash, { labels: { pin: w }, endpoints: [endpoint] });
    await create(free, { labels: { pin: w }, netSoftnetExpose: ['2223:22'] });
    await pass();
    expect((await getVm(clash)).status_message).toContain(`${w}: port 2222 exposed by another VM`);
    expect((await getVm(rangeClash)).status_message).toContain(
      `${w}: worker ports of its endpoints taken by other VMs`,
    );
    expect((await getVm(free)).worker).toBe(w);
  });

  it('schedules again after the database cut its connections, its own included', async () => {
    const pin = fresh('cut');
    await register(pin, { labels: { pin }, resources: { 'org.cirruslabs.tart-vms': 2 } });
    await create(fresh('before-cut'), { labels: { pin } });
    await pass();
    await ctl.dataSource.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    const name = fresh('after-cut');
    await waitFor('a VM created after the cut', async () => {
      const res = await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels: { pin } } });
      return res.status === 200 || res.status === 409;
    });
    await waitFor('its placement', async () => {
      scheduler.request();
      await scheduler.idle();
      return (await getVm(name)).worker === pin;
    });
  });
});

describe('scheduler passes that leave VMs for the next one (issue 13)', () => {
  let ctl: TestController;

  beforeAll(async () => {
    // No interval: only the passes the test runs.
    ctl = await TestController.start({ schedulerIntervalMs: 0 });
  });
  afterAll(async () => {
    await ctl.close();
  });

  it('places at most so many VMs per pass and explains the others only once all were looked at', async () => {
    ctl.app.get(PlacementPass).maxCandidates = 3;
    await ctl.request('POST', '/v1/workers', {
      body: { name: 'w', machine_id: 'w', resources: { 'org.cirruslabs.tart-vms': 10 } },
    });
    const names = ['a', 'b', 'c', 'd', 'e'];
    for (const name of names) {
      await ctl.request('POST', '/v1/vms', { body: { name, image: 'i' } });
    }
    await ctl.request('POST', '/v1/vms', { body: { name: 'gpu', image: 'i', labels: { gpu: 'yes' } } });
    const scheduler = ctl.app.get(SchedulerService);
    expect(await scheduler.runPass()).toMatchObject({ assigned: 3 });
    const get = async (name: string): Promise<Vm> => (await ctl.request('GET', `/v1/vms/${name}`)).body;
    expect((await get('gpu')).status_message).toBe('');
    expect(await scheduler.runPass()).toMatchObject({ assigned: 2 });
    expect((await Promise.all(names.map(get))).map((vm) => vm.worker)).toEqual(names.map(() => 'w'));
    expect((await get('gpu')).status_message).toBe('waiting for a worker: w: lacks label gpu=yes');
  });
});
