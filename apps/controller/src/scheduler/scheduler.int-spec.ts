import { waitFor } from '@grove/testing';
import { TestController } from '../test-support/test-controller';
import { SchedulerService } from './scheduler.service';

describe('scheduler (API-only workers, real triggers)', () => {
  let ctl: TestController;

  beforeAll(async () => {
    ctl = await TestController.start({ schedulerIntervalMs: 60_000, workerOfflineTimeoutMs: 60_000 });
  });
  afterAll(async () => {
    await ctl.close();
  });

  let seq = 0;
  const fresh = (p: string) => `${p}-${++seq}`;
  const getVm = async (name: string) => (await ctl.request('GET', `/v1/vms/${name}`)).body;
  const register = (name: string, extra: Record<string, unknown> = {}) =>
    ctl.request('POST', '/v1/workers', { body: { name, machine_id: name, ...extra } });

  it('places a VM as soon as a worker with its labels registers, explaining the wait meanwhile', async () => {
    const name = fresh('labelled');
    const label = `team-${seq}`;
    await register(fresh('plain'), { resources: { 'org.cirruslabs.tart-vms': 2 } });
    await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels: { team: label } } });
    const waiting = await waitFor('a pending reason', async () => {
      const vm = await getVm(name);
      return vm.status_message.startsWith('waiting for a worker') ? vm : undefined;
    });
    expect(waiting.status_message).toMatch(`lacks label team=${label}`);
    expect(waiting.worker).toBe('');

    const labelled = fresh('labelled-worker');
    await register(labelled, {
      labels: { team: label },
      resources: { 'org.cirruslabs.tart-vms': 2 },
      defaultCPU: 12,
      defaultMemory: 3456,
    });
    const placed = await waitFor('placement', async () => {
      const vm = await getVm(name);
      return vm.worker === labelled ? vm : undefined;
    });
    expect(placed).toMatchObject({ assignedCPU: 12, assignedMemory: 3456, status_message: '' });
    expect(placed.conditions).toContainEqual({ type: 'scheduled', state: 'true' });
    expect(placed.scheduled_at).not.toBe('0001-01-01T00:00:00Z');
  });

  it('fails VMs whose worker is deleted or goes offline', async () => {
    const w = fresh('doomed');
    const label = `only-${w}`;
    await register(w, { labels: { pin: label }, resources: { 'org.cirruslabs.tart-vms': 2 } });
    const name = fresh('orphan');
    await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels: { pin: label } } });
    await waitFor('placement', async () => (await getVm(name)).worker === w);
    await ctl.request('DELETE', `/v1/workers/${w}`);
    const failed = await waitFor('failure', async () => {
      const vm = await getVm(name);
      return vm.status === 'failed' ? vm : undefined;
    });
    expect(failed.status_message).toBe("VM is assigned to a worker that doesn't exist anymore");

    const stale = fresh('stale');
    await register(stale, {
      labels: { pin: stale },
      resources: { 'org.cirruslabs.tart-vms': 2 },
      last_seen: new Date(Date.now() - 30_000).toISOString(),
    });
    const other = fresh('lost');
    await ctl.request('POST', '/v1/vms', { body: { name: other, image: 'i', labels: { pin: stale } } });
    await waitFor('placement', async () => (await getVm(other)).worker === stale);
    // 30 s old heartbeat, 60 s timeout: still online. Move the clock of a pass instead of waiting a minute (past the
    // restart grace too: absence counts from the scheduler's start at the earliest).
    await ctl.app.get(SchedulerService).idle();
    await ctl.app.get(SchedulerService).runPass(new Date(Date.now() + 70_000));
    expect(await getVm(other)).toMatchObject({
      status: 'failed',
      status_message: 'VM is assigned to a worker that lost connection with the controller',
    });
  });

  it('gives paused workers nothing and restarts OnFailure VMs with a new local name', async () => {
    const w = fresh('pausable');
    await register(w, { labels: { pin: w }, resources: { 'org.cirruslabs.tart-vms': 2 } });
    await ctl.request('PUT', `/v1/workers/${w}`, { body: { name: w, scheduling_paused: true } });
    const name = fresh('restartable');
    await ctl.request('POST', '/v1/vms', {
      body: { name, image: 'i', labels: { pin: w }, restart_policy: 'OnFailure' },
    });
    await waitFor('pending reason', async () => (await getVm(name)).status_message.includes(`${w}: scheduling paused`));

    await ctl.request('PUT', `/v1/workers/${w}`, { body: { name: w, scheduling_paused: false } });
    const placed = await waitFor('placement', async () => {
      const vm = await getVm(name);
      return vm.worker === w ? vm : undefined;
    });
    await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'failed', status_message: 'VM exited' } });
    await ctl.app.get(SchedulerService).idle();
    await ctl.app.get(SchedulerService).runPass();
    const restarted = await waitFor('restart and placement', async () => {
      const vm = await getVm(name);
      return vm.restart_count === 1 && vm.worker === w ? vm : undefined;
    });
    expect(restarted.status).toBe('pending');
    expect(restarted.localName).toBe(`grove-${name}-${placed.uid}-1`);
  });

  it('pins a VM to one worker by the automatic worker-name label (orchard-2026.md §1.2.10)', async () => {
    const [a, b] = [fresh('pin-a'), fresh('pin-b')];
    await register(a, { resources: { 'org.cirruslabs.tart-vms': 2 } });
    await register(b, { resources: { 'org.cirruslabs.tart-vms': 2 } });
    for (const target of [a, b]) {
      const name = fresh('pinned');
      await ctl.request('POST', '/v1/vms', {
        body: { name, image: 'i', labels: { 'org.cirruslabs.orchard.worker-name': target } },
      });
      await waitFor(`placement on ${target}`, async () => (await getVm(name)).worker === target);
    }
  });

  it('places a VM with exposed ports only on a worker with capability vm-exposed-ports', async () => {
    const label = fresh('expose');
    await register(fresh('no-caps'), { labels: { pool: label }, resources: { 'org.cirruslabs.tart-vms': 2 } });
    const name = fresh('exposed');
    await ctl.request('POST', '/v1/vms', {
      body: { name, image: 'i', labels: { pool: label }, netSoftnetExpose: ['2222:22'] },
    });
    const waiting = await waitFor('a pending reason', async () => {
      const vm = await getVm(name);
      return vm.status_message.startsWith('waiting for a worker') ? vm : undefined;
    });
    expect(waiting.status_message).toMatch('lacks capability vm-exposed-ports');
    const capable = fresh('caps');
    await register(capable, {
      labels: { pool: label },
      resources: { 'org.cirruslabs.tart-vms': 2 },
      capabilities: ['vm-exposed-ports'],
    });
    await waitFor('placement', async () => (await getVm(name)).worker === capable);
  });

  it('reports leadership: one controller schedules per database', async () => {
    const result = await ctl.app.get(SchedulerService).runPass();
    expect(result.leader).toBe(true);
  });
});
