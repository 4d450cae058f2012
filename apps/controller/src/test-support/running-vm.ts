import { waitFor } from '@grove/testing';
import { SchedulerService } from '../scheduler/scheduler.service';
import type { TestController } from './test-controller';

/**
 * Creates VM `name` pinned to worker `on` (the automatic label `org.cirruslabs.orchard.worker-name`), has the scheduler
 * place it, and reports it running as its worker would: a VM that port-forward and exec sessions can reach.
 */
export async function runningVm(ctl: TestController, name: string, on: string, spec: object = {}): Promise<void> {
  const labels = { 'org.cirruslabs.orchard.worker-name': on };
  const created = await ctl.request('POST', '/v1/vms', { body: { name, image: 'i', labels, ...spec } });
  if (created.status !== 200) {
    throw new Error(`creating VM ${name} failed: ${created.status} ${JSON.stringify(created.body)}`);
  }
  ctl.app.get(SchedulerService).request();
  await ctl.app.get(SchedulerService).idle();
  await waitFor(
    `the placement of ${name}`,
    async () => (await ctl.request('GET', `/v1/vms/${name}`)).body.worker === on,
  );
  const running = await ctl.request('PUT', `/v1/vms/${name}/state`, { body: { status: 'running' } });
  if (running.status !== 200) {
    throw new Error(`reporting VM ${name} running failed: ${running.status} ${JSON.stringify(running.body)}`);
  }
}
