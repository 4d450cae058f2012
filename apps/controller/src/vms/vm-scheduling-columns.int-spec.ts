import { isVmScheduled, type Vm } from '@grove/resources';
import { awaitsPlacement } from '../scheduler/placement';
import { placementShape } from '../scheduler/placement-shape';
import { SchedulerService } from '../scheduler/scheduler.service';
import { TestController } from '../test-support/test-controller';

interface ColumnsRow {
  name: string;
  scheduled: boolean;
  awaiting_placement: boolean;
  placement: unknown;
  resources: unknown;
  claims_ports: boolean;
  status_message: string;
  health_check: boolean;
}

/** What the scheduler's columns must say of a VM, from the controller's own rules. */
function expectedColumns(vm: Vm): Omit<ColumnsRow, 'name'> {
  const scheduled = isVmScheduled(vm);
  const shape = placementShape(vm);
  return {
    scheduled,
    awaiting_placement: awaitsPlacement(vm),
    placement: shape,
    resources: shape.resources,
    claims_ports: shape.netSoftnetExpose.length > 0 || shape.endpointRanges.length > 0,
    status_message: vm.status_message,
    health_check:
      (vm.status === 'failed' && (scheduled || (vm.restart_policy === 'OnFailure' && vm.powerState === 'running'))) ||
      (scheduled && vm.powerState !== 'running'),
  };
}

// The columns the scheduler reads instead of the documents (issue 13) are computed by the database on every write of a
// VM, by whoever writes it: the API, the scheduler, or a statement that only knows the document.
describe('scheduling columns', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start({ workerOfflineTimeoutMs: 60_000 });
  });
  afterAll(async () => {
    await ctl.close();
  });

  const ok = async (method: 'POST' | 'PUT', url: string, body: Record<string, unknown>) => {
    const res = await ctl.request(method, url, { body });
    expect(res.status).toBe(200);
  };
  const columns = async (names: string[]): Promise<ColumnsRow[]> =>
    ctl.dataSource.query(
      `SELECT name, scheduled, awaiting_placement, placement, resources, claims_ports, status_message, health_check
       FROM vms WHERE name = ANY($1) ORDER BY name`,
      [names],
    );
  /** `worker_usage` against the same count made over the VMs themselves. */
  const expectUsageInStep = async () => {
    const kept = await ctl.dataSource.query(
      `SELECT worker, resources, vms FROM worker_usage ORDER BY worker, resources::text`,
    );
    const counted = await ctl.dataSource.query(
      `SELECT worker, resources, count(*)::int AS vms FROM vms WHERE scheduled
       GROUP BY worker, resources ORDER BY worker, resources::text`,
    );
    expect(kept).toEqual(counted);
    return kept as { worker: string; resources: Record<string, number>; vms: number }[];
  };
  const expectInStep = async (names: string[]) => {
    // The document carries the row's version, however it was written (the version is drawn by the writing statement).
    expect(await ctl.dataSource.query(`SELECT name FROM vms WHERE (document->>'version')::bigint <> version`)).toEqual(
      [],
    );
    const rows = await columns(names);
    expect(rows.map((r) => r.name)).toEqual([...names].sort());
    for (const { name, ...row } of rows) {
      const vm: Vm = (await ctl.request('GET', `/v1/vms/${name}`)).body;
      expect({ name, ...row }).toEqual({ name, ...expectedColumns(vm) });
    }
  };

  it('follows every document as the API and the scheduler write it', async () => {
    await ok('POST', '/v1/workers', {
      name: 'cols-w',
      machine_id: 'cols-w',
      labels: { pool: 'cols', gpu: 'yes' },
      capabilities: ['vm-endpoints', 'vm-exposed-ports', 'host-processes'],
      resources: { 'org.cirruslabs.tart-vms': 10, gpu: 2 },
    });
    await ok('POST', '/v1/vms', { name: 'cols-plain', image: 'i', labels: { pool: 'cols' } });
    await ok('POST', '/v1/vms', {
      name: 'cols-rich',
      image: 'i',
      labels: { pool: 'cols', gpu: 'yes' },
      resources: { gpu: 1 },
      netSoftnetExpose: ['2222:22'],
      endpoints: [
        { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 9000, max: 9010 } },
        { name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } },
      ],
      hostProcesses: [{ name: 'agent', program: '/usr/bin/true' }],
    });
    await ok('POST', '/v1/vms', {
      name: 'cols-portless',
      image: 'i',
      labels: { pool: 'cols' },
      endpoints: [{ name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } }],
    });
    await ok('POST', '/v1/vms', {
      name: 'cols-retry',
      image: 'i',
      labels: { pool: 'cols' },
      restart_policy: 'OnFailure',
    });
    await ok('POST', '/v1/vms', { name: 'cols-elsewhere', image: 'i', labels: { pool: 'nowhere' } });
    const names = ['cols-plain', 'cols-rich', 'cols-portless', 'cols-retry', 'cols-elsewhere'];
    await expectInStep(names);

    // Placed by a pass (the reason of the VM that fits nowhere written too), then stopped, failed, and running.
    const scheduler = ctl.app.get(SchedulerService);
    await scheduler.idle();
    await scheduler.runPass();
    const placed = await columns(names);
    expect(placed.filter((r) => r.scheduled).map((r) => r.name)).toEqual([
      'cols-plain',
      'cols-portless',
      'cols-retry',
      'cols-rich',
    ]);
    expect(placed.find((r) => r.name === 'cols-elsewhere')?.status_message).toMatch('lacks label pool=nowhere');
    await ok('PUT', '/v1/vms/cols-plain', { name: 'cols-plain', powerState: 'stopped' });
    await ok('PUT', '/v1/vms/cols-retry/state', { name: 'cols-retry', status: 'failed', status_message: 'boom' });
    await ok('PUT', '/v1/vms/cols-rich/state', { name: 'cols-rich', status: 'running' });
    await expectInStep(names);
    const health = await columns(['cols-plain', 'cols-retry', 'cols-rich']);
    expect(health.map((r) => [r.name, r.health_check])).toEqual([
      ['cols-plain', true],
      ['cols-retry', true],
      ['cols-rich', false],
    ]);
  });

  it('follows a document written by a statement that knows nothing of the columns', async () => {
    await ok('POST', '/v1/vms', { name: 'cols-legacy', image: 'i', labels: { pool: 'nowhere' } });
    // A document without a `scheduled` condition (stored before it existed) counts as scheduled when it names a worker.
    await ctl.dataSource.query(
      `UPDATE vms SET worker = 'gone', document = (document::jsonb || '{"conditions":[],"worker":"gone"}')::json
       WHERE name = 'cols-legacy'`,
    );
    await expectInStep(['cols-legacy']);
    const [row] = await columns(['cols-legacy']);
    expect([row.scheduled, row.awaiting_placement]).toEqual([true, false]);
    expect((await expectUsageInStep()).filter((u) => u.worker === 'gone')).toEqual([
      { worker: 'gone', resources: { 'org.cirruslabs.tart-vms': 1 }, vms: 1 },
    ]);
    await ctl.dataSource.query(`DELETE FROM vms WHERE name = 'cols-legacy'`);
    expect((await expectUsageInStep()).filter((u) => u.worker === 'gone')).toEqual([]);
  });

  it("keeps each worker's usage as VMs are placed, moved, stopped, failed and deleted", async () => {
    await ok('POST', '/v1/workers', {
      name: 'use-w1',
      machine_id: 'use-w1',
      labels: { pool: 'use' },
      resources: { 'org.cirruslabs.tart-vms': 4, gpu: 2 },
    });
    await ok('POST', '/v1/workers', {
      name: 'use-w2',
      machine_id: 'use-w2',
      labels: { pool: 'use' },
      resources: { 'org.cirruslabs.tart-vms': 4, gpu: 2 },
    });
    for (let i = 0; i < 4; i++) {
      await ok('POST', '/v1/vms', {
        name: `use-${i}`,
        image: 'i',
        labels: { pool: 'use' },
        resources: { 'org.cirruslabs.tart-vms': 1, ...(i % 2 === 0 ? { gpu: 1 } : {}) },
      });
    }
    await expectUsageInStep();
    const scheduler = ctl.app.get(SchedulerService);
    await scheduler.idle();
    await scheduler.runPass();
    const placed = await expectUsageInStep();
    expect(placed.filter((u) => u.worker.startsWith('use-')).reduce((n, u) => n + u.vms, 0)).toBe(4);

    await ok('PUT', '/v1/vms/use-0', { name: 'use-0', powerState: 'stopped' });
    await ok('PUT', '/v1/vms/use-1/state', { name: 'use-1', status: 'failed' });
    expect((await ctl.request('DELETE', '/v1/vms/use-2')).status).toBe(200);
    await expectUsageInStep();
    // The health checks free what the stopped and the failed VM held.
    await scheduler.runPass();
    const after = await expectUsageInStep();
    expect(after.filter((u) => u.worker.startsWith('use-')).reduce((n, u) => n + u.vms, 0)).toBe(1);
    // A VM moved to another worker by a statement of its own, as a worker of an older controller might.
    await ctl.dataSource.query(
      `UPDATE vms SET worker = 'use-elsewhere', document = (document::jsonb || '{"worker":"use-elsewhere"}')::json
       WHERE name = 'use-3'`,
    );
    expect((await expectUsageInStep()).filter((u) => u.worker.startsWith('use-')).map((u) => u.worker)).toEqual([
      'use-elsewhere',
    ]);
  });
});
