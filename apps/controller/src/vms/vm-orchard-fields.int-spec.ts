import { credentials as grpcCredentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { loadWorkerProtocol, type ControllerMessage__Output, type WorkerMessage } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { SchedulerService } from '../scheduler/scheduler.service';
import { ADMIN_TOKEN, TestController } from '../test-support/test-controller';
import { WorkerSessionRegistry } from '../worker-sessions/worker-session.registry';

/**
 * The VM fields newer Orchard clients send (issue 12; orchard-2026.md §1.2.5, §1.2.7–1.2.9): accepted, validated
 * naming the field, stored and served; and a spec change reaching the VM's worker at once.
 */
describe('VM fields of newer Orchard', () => {
  let ctl: TestController;

  beforeAll(async () => {
    // The scheduler runs on triggers only, so that nothing but the update under test nudges the worker.
    ctl = await TestController.start({ grpcListen: { host: '127.0.0.1', port: 0 }, schedulerIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await ctl.close();
  });

  let seq = 0;
  const fresh = (prefix = 'vm') => `${prefix}-${++seq}`;
  const create = (body: Record<string, unknown>) => ctl.request('POST', '/v1/vms', { body });
  const getVm = async (name: string) => (await ctl.request('GET', `/v1/vms/${name}`)).body;

  it('serves audio and clipboard off, nothing exposed and no usbAccessories for a minimal VM', async () => {
    const name = fresh();
    const res = await create({ name, image: 'i' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ audio: false, clipboard: false, netSoftnetExpose: [] });
    expect(res.body).not.toHaveProperty('usbAccessories');
    expect(await getVm(name)).toMatchObject({ audio: false, clipboard: false, netSoftnetExpose: [] });
  });

  it('stores and serves the new fields on create, get and list', async () => {
    const name = fresh();
    const res = await create({
      name,
      image: 'i',
      audio: true,
      clipboard: true,
      usbAccessories: false,
      netSoftnetExpose: ['2222:22', '8080:80'],
    });
    expect(res.status).toBe(200);
    const expected = {
      audio: true,
      clipboard: true,
      usbAccessories: false,
      netSoftnetExpose: ['2222:22', '8080:80'],
      // Exposed ports imply Softnet, as `--net-softnet-expose` does in Tart.
      netSoftnet: true,
      'net-softnet': true,
    };
    expect(res.body).toMatchObject(expected);
    expect(await getVm(name)).toMatchObject(expected);
    const list = (await ctl.request('GET', '/v1/vms')).body as { name: string }[];
    expect(list.find((vm) => vm.name === name)).toMatchObject(expected);
  });

  it('accepts the opt-outs noAudio and noClipboard of an intermediate Orchard, serving audio and clipboard', async () => {
    const on = await create({ name: fresh(), image: 'i', noAudio: false, noClipboard: false });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ audio: true, clipboard: true });
    expect(on.body).not.toHaveProperty('noAudio');
    const off = await create({ name: fresh(), image: 'i', noAudio: true, noClipboard: true });
    expect(off.body).toMatchObject({ audio: false, clipboard: false });
    const both = await create({ name: fresh(), image: 'i', audio: true, noAudio: true });
    expect(both.body).toMatchObject({ audio: true });
  });

  it.each<[string, Record<string, unknown>, { field: string; message: string }[]]>([
    [
      'a malformed exposed port',
      { netSoftnetExpose: ['2222:22', '22'] },
      [{ field: 'netSoftnetExpose[1]', message: '"22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535' }],
    ],
    [
      'port 0',
      { netSoftnetExpose: ['0:22'] },
      [
        {
          field: 'netSoftnetExpose[0]',
          message: '"0:22" must be EXTERNAL:INTERNAL with both ports between 1 and 65535',
        },
      ],
    ],
    [
      'an external port exposed twice',
      { netSoftnetExpose: ['2222:22', '2222:23'] },
      [{ field: 'netSoftnetExpose[1]', message: 'external port 2222 is exposed more than once' }],
    ],
  ])('refuses %s with a 400 naming the item', async (_case, fields, errors) => {
    const res = await create({ name: fresh(), image: 'i', ...fields });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(errors);
  });

  it.each<[string, unknown]>([
    ['audio', 'yes'],
    ['clipboard', 1],
    ['usbAccessories', 'false'],
    ['netSoftnetExpose', '2222:22'],
    ['netSoftnetExpose', [2222]],
  ])('refuses %s of the wrong type (%j) with a 400 naming the field', async (field, value) => {
    const res = await create({ name: fresh(), image: 'i', [field]: value });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });

  it.each<[string, unknown]>([
    ['audio', true],
    ['clipboard', true],
    ['usbAccessories', true],
    ['netSoftnetExpose', ['2222:22']],
  ])('refuses %s for runtime vetu, as Orchard does', async (field, value) => {
    const res = await create({ name: fresh(), image: 'i', os: 'linux', runtime: 'vetu', [field]: value });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field, message: 'runtime "vetu" does not support this field' }]);
  });

  it('ignores audio and clipboard in updates: they are fixed at creation', async () => {
    const name = fresh();
    const created = (await create({ name, image: 'i', audio: true })).body;
    const res = await ctl.request('PUT', `/v1/vms/${name}`, { body: { ...created, audio: false, clipboard: true } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ audio: true, clipboard: false, generation: 0 });
  });

  it('updates usbAccessories as a spec change, keeping it when a body leaves it out', async () => {
    const name = fresh();
    await create({ name, image: 'i' });
    const off = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, usbAccessories: false } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ usbAccessories: false, generation: 1 });
    const kept = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name } });
    expect(kept.body).toMatchObject({ usbAccessories: false, generation: 1 });

    const suspendable = fresh();
    await create({ name: suspendable, image: 'i', suspendable: true });
    const toggled = await ctl.request('PUT', `/v1/vms/${suspendable}`, {
      body: { name: suspendable, suspendable: true, usbAccessories: false },
    });
    expect(toggled.status).toBe(400);
    expect(toggled.body.errors).toEqual([
      { field: 'usbAccessories', message: 'cannot be toggled for a suspendable VM' },
    ]);
  });

  describe('on a worker with a session', () => {
    const proto = loadWorkerProtocol();
    const clients: { close(): void }[] = [];
    afterAll(() => clients.forEach((c) => c.close()));

    /** A worker's gRPC session that collects what the controller sends it. */
    async function connect(worker: string): Promise<ControllerMessage__Output[]> {
      const info = await ctl.request('GET', '/v1/controller/info');
      const client = new proto.grove.worker.v1.WorkerService(
        `127.0.0.1:${info.body.grpcPort}`,
        grpcCredentials.createInsecure(),
      );
      clients.push(client);
      const metadata = new Metadata();
      metadata.set('authorization', `Basic ${Buffer.from(`bootstrap-admin:${ADMIN_TOKEN}`).toString('base64')}`);
      const session: ClientDuplexStream<WorkerMessage, ControllerMessage__Output> = client.Session(metadata);
      const received: ControllerMessage__Output[] = [];
      session.on('data', (m: ControllerMessage__Output) => received.push(m));
      session.on('error', () => undefined);
      session.write({ hello: { worker_name: worker, protocol_version: 1, capabilities: [], worker_version: 'test' } });
      await waitFor('registration', () => ctl.app.get(WorkerSessionRegistry).isConnected(worker));
      return received;
    }

    const syncs = (received: ControllerMessage__Output[]) => received.filter((m) => m.kind === 'sync_vms').length;

    it('nudges the VM’s worker at once when its spec changes, well before the worker’s 5 s poll', async () => {
      const worker = fresh('nudged');
      await ctl.request('POST', '/v1/workers', {
        // Room for the VMs earlier tests left pending as well: they are placed first (FIFO).
        body: { name: worker, machine_id: worker, resources: { 'org.cirruslabs.tart-vms': 100 } },
      });
      const received = await connect(worker);
      const name = fresh();
      await create({ name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': worker } });
      await ctl.app.get(SchedulerService).idle();
      await waitFor('placement', async () => (await getVm(name)).worker === worker);
      await waitFor('the placement nudge', () => syncs(received) >= 1);
      const before = syncs(received);

      const res = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, powerState: 'stopped' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ powerState: 'stopped', generation: 1 });
      // Within 2 s: the scheduler is idle (60 s interval), so only the update itself can have sent it.
      await waitFor('the spec-change nudge', () => syncs(received) > before, 2_000);
    });

    it('refuses changing exposed ports once the VM is scheduled', async () => {
      const worker = fresh('exposing');
      await ctl.request('POST', '/v1/workers', {
        body: {
          name: worker,
          machine_id: worker,
          resources: { 'org.cirruslabs.tart-vms': 100 },
          capabilities: ['vm-exposed-ports'],
        },
      });
      const name = fresh();
      // Ports no earlier test exposes: those VMs are placed here first, and a worker port is never exposed twice.
      await create({
        name,
        image: 'i',
        labels: { 'org.cirruslabs.orchard.worker-name': worker },
        netSoftnetExpose: ['2301:22'],
      });
      await ctl.app.get(SchedulerService).idle();
      await waitFor('placement', async () => (await getVm(name)).worker === worker);
      const res = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, netSoftnetExpose: ['2302:22'] } });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        { field: 'netSoftnetExpose', message: 'cannot be changed once the VM is scheduled' },
      ]);
      const unchanged = await ctl.request('PUT', `/v1/vms/${name}`, { body: { name, netSoftnetExpose: ['2301:22'] } });
      expect(unchanged.status).toBe(200);
      expect(unchanged.body.generation).toBe(0);
    });
  });
});

/** `grove dev --insecure-allow-host-dirs` (orchard-2026.md §1.2.12) runs its controller with this switch. */
describe('a controller run with --insecure-allow-host-dirs', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start({ insecureAllowHostDirs: true });
  });
  afterAll(async () => {
    await ctl.close();
  });

  it('accepts host directories without any cluster policy, leaving the stored policies alone', async () => {
    const res = await ctl.request('POST', '/v1/vms', {
      body: {
        name: 'shares',
        image: 'i',
        hostDirs: [
          { name: 'src', path: '/home/dev/src' },
          { name: 'etc', path: '/etc', ro: true },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.hostDirs).toEqual([
      { name: 'src', path: '/home/dev/src', ro: false },
      { name: 'etc', path: '/etc', ro: true },
    ]);
    expect((await ctl.request('GET', '/v1/cluster-settings')).body.hostDirPolicies).toEqual([]);
  });

  it('still refuses paths with ".." and empty names', async () => {
    const res = await ctl.request('POST', '/v1/vms', {
      body: {
        name: 'sneaky',
        image: 'i',
        hostDirs: [
          { name: 'up', path: '/home/../etc' },
          { name: '', path: '/x' },
        ],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { field: 'hostDirs[0].path', message: 'must not contain ".."' },
      { field: 'hostDirs[1].name', message: 'must not be empty' },
    ]);
  });
});

describe('a controller run without it', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start();
  });
  afterAll(async () => {
    await ctl.close();
  });

  it('refuses a host directory no cluster policy admits', async () => {
    const res = await ctl.request('POST', '/v1/vms', {
      body: { name: 'shares', image: 'i', hostDirs: [{ name: 'src', path: '/home/dev/src' }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      {
        field: 'hostDirs[0]',
        message: 'host directory "src:/home/dev/src" is disallowed by policy, check your cluster settings',
      },
    ]);
  });
});
