import { setupReconciler } from '../test-support/fake-controller';
import { sampleValue } from '../test-support/metrics-text';
import { WorkerMetrics } from './worker-metrics';

/** A reconciler over the fake runtime whose VM steps and states feed a fresh metrics registry. */
function setup() {
  const metrics = new WorkerMetrics();
  const parts = setupReconciler({ onVmStep: metrics.vmStep });
  metrics.countVms(() => [...parts.reconciler.managed.values()].map((vm) => vm.state));
  const scrape = async () => (await metrics.text()).body;
  return { ...parts, metrics, scrape };
}

describe('WorkerMetrics', () => {
  it('times each step of a VM created, then deleted, and counts the VMs by state', async () => {
    const { controller, reconciler, until, scrape } = setup();
    controller.place({ name: 'ci', imagePullPolicy: 'Always' });
    await until('running', () => controller.get('ci').status === 'running');

    let text = await scrape();
    for (const step of ['pull', 'clone', 'configure']) {
      expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step })).toBe(1);
    }
    // Every step has a series from the start (a rate sees the first event); the VM has not been stopped yet.
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'stop' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_bucket', { step: 'clone', le: '+Inf' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'running' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'failed' })).toBe(0);

    controller.vms.delete('ci');
    await until('the VM gone', () => reconciler.managed.size === 0);
    text = await scrape();
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'stop' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'delete' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'running' })).toBe(0);
    await reconciler.close();
  });

  it('starts every step, tart command, exec outcome and download series at zero, before anything happened', async () => {
    const text = (await new WorkerMetrics().text()).body;
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'startup-script' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_tart_failures_total', { command: 'clone' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_exec_total', { via: 'agent', result: 'exited' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_exec_total', { via: 'none', result: 'failed' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_image_pull_bytes_total', { command: 'pull' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_image_pull_seconds_count', { command: 'clone' })).toBe(0);
  });

  it('does not time a step that failed, and counts the VM as failed', async () => {
    const { runtime, controller, reconciler, until, scrape } = setup();
    runtime.failures.set('configure', 'tart command failed: "boom"');
    controller.place({ name: 'broken' });
    await until('failed', () => controller.get('broken').status === 'failed');
    const text = await scrape();
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'clone' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'configure' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'failed' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'running' })).toBe(0);
    await reconciler.close();
  });

  it('counts a stopped VM as stopped', async () => {
    const { controller, reconciler, until, scrape } = setup();
    controller.place({ name: 'off' });
    await until('running', () => controller.get('off').status === 'running');
    controller.update('off', { powerState: 'stopped', generation: 1 });
    await until('stopped', () => controller.get('off').status_message === 'VM stopped');
    const text = await scrape();
    expect(sampleValue(text, 'grove_worker_vms', { state: 'stopped' })).toBe(1);
    expect(sampleValue(text, 'grove_worker_vms', { state: 'running' })).toBe(0);
    expect(sampleValue(text, 'grove_worker_vm_step_seconds_count', { step: 'stop' })).toBe(1);
    await reconciler.close();
  });

  it('sums the tunnel streams of each state over their sources', async () => {
    const metrics = new WorkerMetrics();
    let idle = 3;
    metrics.countTunnelStreams('idle', () => idle);
    metrics.countTunnelStreams('busy', () => 2);
    metrics.countTunnelStreams('busy', () => 1);
    let text = (await metrics.text()).body;
    expect(sampleValue(text, 'grove_worker_tunnel_streams', { state: 'idle' })).toBe(3);
    expect(sampleValue(text, 'grove_worker_tunnel_streams', { state: 'busy' })).toBe(3);
    idle = 0;
    text = (await metrics.text()).body;
    expect(sampleValue(text, 'grove_worker_tunnel_streams', { state: 'idle' })).toBe(0);
  });

  it('counts the idle raw links of the session', async () => {
    const metrics = new WorkerMetrics();
    let idle = 8;
    metrics.countIdleLinks(() => idle);
    expect(sampleValue((await metrics.text()).body, 'grove_worker_idle_tunnel_links')).toBe(8);
    idle = 7;
    expect(sampleValue((await metrics.text()).body, 'grove_worker_idle_tunnel_links')).toBe(7);
  });

  it('keeps each worker’s numbers in its own registry, with the process metrics', async () => {
    const one = new WorkerMetrics();
    const other = new WorkerMetrics();
    one.execEnded('agent', 'exited');
    const text = (await one.text()).body;
    expect(sampleValue(text, 'grove_worker_exec_total', { via: 'agent', result: 'exited' })).toBe(1);
    expect(sampleValue((await other.text()).body, 'grove_worker_exec_total', { via: 'agent', result: 'exited' })).toBe(
      0,
    );
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect((await one.text()).contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
