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
  const expectInStep = async (names: string[]) => {
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
  });
});
