import { waitFor } from '@grove/testing';
import { SchedulerService } from '../scheduler/scheduler.service';
import { TestController } from '../test-support/test-controller';

/**
 * VM `endpoints` and read-only `observedEndpoints` (issue 12, orchard-2026.md §1.2.2) through the REST API: create,
 * get, list, validation naming item and field, the worker's state reports, and the scheduler's part.
 */
describe('VM endpoints', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start({ schedulerIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await ctl.close();
  });

  let seq = 0;
  const fresh = (prefix = 'vm') => `${prefix}-${++seq}`;
  const create = (body: Record<string, unknown>) => ctl.request('POST', '/v1/vms', { body });
  const getVm = async (name: string) => (await ctl.request('GET', `/v1/vms/${name}`)).body;
  const ssh = { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 2222, max: 2222 } };
  const dns = { name: 'dns', protocol: 'udp', target: { vm: { port: 53 } } };

  async function registerWorker(capabilities: string[]): Promise<string> {
    const worker = fresh('worker');
    const res = await ctl.request('POST', '/v1/workers', {
      body: { name: worker, machine_id: worker, resources: { 'org.cirruslabs.tart-vms': 100 }, capabilities },
    });
    expect(res.status).toBe(200);
    return worker;
  }

  async function placedOn(worker: string, body: Record<string, unknown>): Promise<string> {
    const name = fresh();
    const res = await create({ name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': worker }, ...body });
    expect(res.status).toBe(200);
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    await waitFor('placement', async () => (await getVm(name)).worker === worker);
    return name;
  }

  it('stores and serves endpoints on create, get and list; a VM without them omits both fields', async () => {
    const name = fresh();
    const res = await create({
      name,
      image: 'i',
      endpoints: [ssh, dns],
      // Read-only: accepted and ignored.
      observedEndpoints: [{ name: 'ssh', protocol: 'tcp', workerPort: 1, state: 'listening' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.endpoints).toEqual([ssh, dns]);
    expect(res.body).not.toHaveProperty('observedEndpoints');
    expect((await getVm(name)).endpoints).toEqual([ssh, dns]);
    const list = (await ctl.request('GET', '/v1/vms')).body as { name: string; endpoints?: unknown }[];
    expect(list.find((vm) => vm.name === name)?.endpoints).toEqual([ssh, dns]);

    const plain = (await create({ name: fresh(), image: 'i' })).body;
    expect(plain).not.toHaveProperty('endpoints');
    expect(plain).not.toHaveProperty('observedEndpoints');
  });

  it.each<[string, unknown[], { field: string; message: string }[]]>([
    [
      'a VM port out of range',
      [ssh, { name: 'web', protocol: 'tcp', target: { vm: { port: 70000 } } }],
      [{ field: 'endpoints[1].target.vm.port', message: 'port must be a port between 1 and 65535' }],
    ],
    [
      'an unknown protocol',
      [{ name: 'x', protocol: 'sctp', target: { vm: { port: 1 } } }],
      [{ field: 'endpoints[0].protocol', message: 'protocol must be one of: tcp, udp' }],
    ],
    [
      'a missing target',
      [{ name: 'x', protocol: 'tcp' }],
      [{ field: 'endpoints[0].target', message: 'target must be an object {vm: {port}}' }],
    ],
    [
      'a name used twice',
      [ssh, { ...dns, name: 'ssh' }],
      [{ field: 'endpoints[1].name', message: 'endpoint "ssh" is declared more than once' }],
    ],
    ['an empty name', [{ ...dns, name: '' }], [{ field: 'endpoints[0].name', message: 'must not be empty' }]],
    [
      'min above max',
      [{ ...dns, workerPortRange: { min: 6000, max: 5000 } }],
      [{ field: 'endpoints[0].workerPortRange', message: 'min 6000 must not exceed max 5000' }],
    ],
    [
      'an unknown field',
      [{ ...dns, port: 53 }],
      [{ field: 'endpoints[0].port', message: 'property port should not exist' }],
    ],
  ])('refuses %s with a 400 naming the item and field', async (_case, endpoints, errors) => {
    const res = await create({ name: fresh(), image: 'i', endpoints });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(errors);
    expect(res.body.message).toContain(errors[0].field);
  });

  it('stores observedEndpoints from state reports; [] clears them; spec updates ignore them', async () => {
    const name = fresh();
    const created = (await create({ name, image: 'i', endpoints: [ssh, dns] })).body;
    const observed = [
      { name: 'ssh', protocol: 'tcp', workerPort: 2222, state: 'listening' },
      { name: 'dns', protocol: 'udp', state: 'error', message: 'address in use' },
    ];
    const report = await ctl.request('PUT', `/v1/vms/${name}/state`, {
      body: { uid: created.uid, status: 'running', observedEndpoints: observed },
    });
    expect(report.status).toBe(200);
    expect(report.body.observedEndpoints).toEqual(observed);
    expect((await getVm(name)).observedEndpoints).toEqual(observed);

    const update = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, observedEndpoints: [] } });
    expect(update.status).toBe(200);
    expect(update.body.observedEndpoints).toEqual(observed);

    const bad = await ctl.request('PUT', `/v1/vms/${name}/state`, {
      body: { observedEndpoints: [{ name: 'ssh', protocol: 'tcp', workerPort: 0, state: 'up' }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'observedEndpoints[0].workerPort',
      'observedEndpoints[0].state',
    ]);

    const cleared = await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { observedEndpoints: [] } });
    expect(cleared.body).not.toHaveProperty('observedEndpoints');
  });

  it('updates endpoints after scheduling (a spec change), keeps them when a body leaves them out, [] removes them', async () => {
    const worker = await registerWorker(['vm-endpoints']);
    const name = await placedOn(worker, { endpoints: [dns] });
    // A port no other test pins: VMs earlier tests left pending are placed on this worker too.
    const pinned = { ...ssh, workerPortRange: { min: 2501, max: 2501 } };
    const changed = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, endpoints: [dns, pinned] } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ endpoints: [dns, pinned], generation: 1 });
    const kept = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name } });
    expect(kept.body).toMatchObject({ endpoints: [dns, pinned], generation: 1 });
    const removed = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, endpoints: [] } });
    expect(removed.body.generation).toBe(2);
    expect(removed.body).not.toHaveProperty('endpoints');
  });

  it('refuses (409) an endpoint update whose worker port another VM on the worker holds', async () => {
    const worker = await registerWorker(['vm-endpoints', 'vm-exposed-ports']);
    await placedOn(worker, { netSoftnetExpose: ['2401:22'] });
    const name = await placedOn(worker, { endpoints: [dns] });
    const clash = { ...ssh, workerPortRange: { min: 2401, max: 2401 } };
    const res = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, endpoints: [clash] } });
    expect(res.status).toBe(409);
    expect(res.body.message).toContain(`worker "${worker}"`);
    const free = { ...ssh, workerPortRange: { min: 2401, max: 2402 } };
    expect((await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, endpoints: [free] } })).status).toBe(200);
  });

  it('places VMs with endpoints only on workers with vm-endpoints', async () => {
    const old = await registerWorker([]);
    const name = fresh();
    await create({ name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': old }, endpoints: [dns] });
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    const vm = await getVm(name);
    expect(vm.worker).toBe('');
    expect(vm.status_message).toContain(`${old}: lacks capability vm-endpoints`);
  });

  it('marks the endpoints a VM on an old worker gets as error, without failing the VM', async () => {
    const old = await registerWorker([]);
    const name = await placedOn(old, {});
    expect((await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, endpoints: [dns] } })).status).toBe(200);
    ctl.app.get(SchedulerService).request();
    await ctl.app.get(SchedulerService).idle();
    await waitFor('the error', async () => (await getVm(name)).observedEndpoints !== undefined);
    const vm = await getVm(name);
    expect(vm.observedEndpoints).toEqual([
      { name: 'dns', protocol: 'udp', state: 'error', message: "worker doesn't support VM endpoints" },
    ]);
    expect(vm.status).not.toBe('failed');
  });
});
