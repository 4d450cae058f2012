import { randomUUID } from 'node:crypto';
import { vmLocalName, type Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { setupReconciler as setup } from '../test-support/fake-controller';

const running = (vm: Vm) => vm.conditions.find((c) => c.type === 'running')?.state === 'true';

describe('Reconciler', () => {
  it('creates a placed VM in tart.md order and reports it running with its image digest', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'ci' });
    // The scheduler fills these in for a VM that asked for the worker's defaults.
    controller.update('ci', { assignedCPU: 6, assignedMemory: 12288 });
    await until('running', () => controller.get('ci').status === 'running' && running(controller.get('ci')));
    expect(runtime.calls).toEqual([
      `clone ghcr.io/acme/macos:latest ${vm.localName}`,
      'fqn ghcr.io/acme/macos:latest',
      `configure ${vm.localName} cpu=6 memory=12288`,
      `run ${vm.localName}`,
    ]);
    expect(controller.get('ci')).toMatchObject({
      status_message: 'VM started',
      image_fqn: 'ghcr.io/acme/macos:latest@sha256:feed',
      observedGeneration: 0,
    });
    // Every report names the incarnation, so that the controller can drop stale ones.
    expect(controller.reports.every(({ report }) => report.uid === vm.uid && report.restart_count === 0)).toBe(true);
    await reconciler.close();
  });

  it('reports a VM running from the list it read to create it, and reads the list again when asked to', async () => {
    const { controller, reconciler } = setup();
    controller.place({ name: 'once' });
    await reconciler.requestSync();
    // The VM's own changes (cloned, booted) ask for the passes that report it, from the list already read.
    await waitFor('running', () => Promise.resolve(controller.get('once').status === 'running'));
    expect(controller.lists).toBe(1);
    // What the controller changes reaches the worker through a fresh read (SyncVms, the poll).
    controller.update('once', { powerState: 'stopped', generation: 1 });
    await reconciler.requestSync();
    expect(controller.lists).toBe(2);
    await waitFor('stopped', async () => {
      await reconciler.requestSync();
      return !running(controller.get('once'));
    });
    await reconciler.close();
  });

  it('pulls first for imagePullPolicy Always and passes the run flags of the spec', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({
      name: 'pull',
      imagePullPolicy: 'Always',
      netSoftnetAllow: ['10.0.0.0/8'],
      nested: true,
      username: 'ci',
      password: 'pw',
    });
    await until('running', () => controller.get('pull').status === 'running');
    expect(runtime.calls[0]).toBe('pull ghcr.io/acme/macos:latest');
    expect(runtime.runs.get(vm.localName)).toMatchObject({
      netSoftnet: true,
      netSoftnetAllow: ['10.0.0.0/8'],
      nested: true,
      credentials: { username: 'ci', password: 'pw' },
    });
    await reconciler.close();
  });

  it.each([
    ['pull', { imagePullPolicy: 'Always' as const }, 'failed to pull the VM: tart command failed: "boom"'],
    ['clone', {}, 'failed to clone the VM: tart command failed: "boom"'],
    ['configure', {}, 'failed to configure the VM: tart command failed: "boom"'],
    ['run', {}, 'VM failed: tart command failed: "boom"'],
  ] as const)('reports a failed %s with the runtime’s first error line', async (step, input, message) => {
    const { runtime, controller, reconciler, until } = setup();
    runtime.failures.set(step, 'tart command failed: "boom"');
    controller.place({ name: 'broken', ...input });
    await until('failed', () => controller.get('broken').status === 'failed');
    expect(controller.get('broken').status_message).toBe(message);
    await reconciler.close();
  });

  it('fails a VM whose run ends by itself, and one that exits with an error', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const quiet = controller.place({ name: 'quiet' });
    const loud = controller.place({ name: 'loud' });
    await until('both running', () => running(controller.get('quiet')) && running(controller.get('loud')));
    runtime.exit(quiet.localName, { code: 0 });
    runtime.exit(loud.localName, { code: 1, error: 'tart command failed: "The VM crashed"' });
    await until(
      'both failed',
      () => controller.get('quiet').status === 'failed' && controller.get('loud').status === 'failed',
    );
    expect(controller.get('quiet').status_message).toBe('VM failed: VM exited unexpectedly');
    expect(controller.get('loud').status_message).toBe('VM failed: tart command failed: "The VM crashed"');
    expect(running(controller.get('quiet'))).toBe(false);
    await reconciler.close();
  });

  it('stops and deletes a VM the controller forgot, and only stops one it failed', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const gone = controller.place({ name: 'gone' });
    const failed = controller.place({ name: 'failed' });
    await until('running', () => running(controller.get('gone')) && running(controller.get('failed')));
    controller.vms.delete('gone');
    controller.update('failed', { status: 'failed', status_message: 'VM is assigned to a worker that does not exist' });
    await until('cleaned up', () => !reconciler.managed.has(gone.localName) && !runtime.isRunning(failed.localName));
    expect(runtime.calls).toEqual(expect.arrayContaining([`stop ${gone.localName} 5`, `delete ${gone.localName}`]));
    expect(runtime.calls).not.toContain(`delete ${failed.localName}`);
    expect(runtime.onDisk.has(failed.localName)).toBe(true);
    await reconciler.close();
    // A worker that exits leaves nothing behind (Orchard's worker deletes its VMs on close).
    expect(runtime.onDisk.size).toBe(0);
  });

  it('reports a VM it lost track of, e.g. after a restart', async () => {
    const { controller, reconciler, until } = setup();
    controller.place({ name: 'orphan' });
    controller.update('orphan', { status: 'running' });
    await until('failed', () => controller.get('orphan').status === 'failed');
    expect(controller.get('orphan').status_message).toBe('Worker lost track of VM');
    await reconciler.close();
  });

  it('stops a VM whose power state becomes stopped and catches observedGeneration up', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'halt' });
    await until('running', () => running(controller.get('halt')));
    controller.update('halt', { powerState: 'stopped', generation: 1 });
    await until('stopped', () => controller.get('halt').observedGeneration === 1 && !running(controller.get('halt')));
    expect(controller.get('halt')).toMatchObject({ status: 'running', status_message: 'VM stopped' });
    expect(runtime.calls.filter((c) => c.startsWith('run '))).toEqual([`run ${vm.localName}`]);
    await reconciler.close();
  });

  it('restarts a running VM with the new run flags after a spec change, without cloning again', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'flags' });
    await until('running', () => running(controller.get('flags')));
    controller.update('flags', { netSoftnet: true, 'net-softnet': true, generation: 1 });
    await until(
      'restarted',
      () => controller.get('flags').observedGeneration === 1 && running(controller.get('flags')),
    );
    expect(runtime.calls.filter((c) => /^(clone|stop|run) /.test(c))).toEqual([
      `clone ghcr.io/acme/macos:latest ${vm.localName}`,
      `run ${vm.localName}`,
      `stop ${vm.localName} 5`,
      `run ${vm.localName}`,
    ]);
    expect(runtime.runs.get(vm.localName)?.netSoftnet).toBe(true);
    expect(controller.get('flags').status_message).toBe('VM started');
    await reconciler.close();
  });

  it('suspends a suspendable VM instead of stopping it', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'nap', suspendable: true });
    await until('running', () => running(controller.get('nap')));
    controller.update('nap', { powerState: 'suspended', generation: 1 });
    await until('suspended', () => controller.get('nap').observedGeneration === 1 && !running(controller.get('nap')));
    expect(runtime.calls).toContain(`suspend ${vm.localName}`);
    expect(runtime.calls).not.toContain(`stop ${vm.localName} 5`);
    expect(controller.get('nap').status_message).toBe('VM suspended');
    expect(await runtime.isSuspended(vm.localName)).toBe(true);
    await reconciler.close();
  });

  it('fails the VM when its startup script fails, and reports the script phase before that', async () => {
    let failScript: (err: Error) => void = () => undefined;
    const { controller, reconciler, until } = setup({
      startupScript: () => new Promise<void>((_resolve, reject) => (failScript = reject)),
    });
    controller.place({ name: 'script', startup_script: { script_content: 'exit 3' } });
    await until(
      'script phase',
      () => controller.get('script').status_message === 'VM started, running startup script...',
    );
    failScript(new Error('Process exited with status 3'));
    await until('failed', () => controller.get('script').status === 'failed');
    expect(controller.get('script').status_message).toBe(
      'VM failed: failed to run startup script: Process exited with status 3',
    );
    await reconciler.close();
  });

  it('sends nothing for a VM in a steady state', async () => {
    const { controller, reconciler, until } = setup();
    controller.place({ name: 'steady' });
    await until('running', () => controller.get('steady').status === 'running' && running(controller.get('steady')));
    const before = controller.reports.length;
    await reconciler.requestSync();
    await reconciler.requestSync();
    expect(controller.reports.length).toBe(before);
    await reconciler.close();
  });

  it('creates a new clone for a restarted incarnation and deletes the old one', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const first = controller.place({ name: 'again' });
    await until('running', () => running(controller.get('again')));
    const localName = vmLocalName('again', first.uid, 1);
    controller.update('again', { status: 'pending', restart_count: 1, localName, tartName: localName, conditions: [] });
    await until('restarted', () => controller.get('again').status === 'running' && runtime.isRunning(localName));
    expect(runtime.onDisk.has(first.localName)).toBe(false);
    await reconciler.close();
  });

  it('answers ResolveIp only for a VM that runs here', async () => {
    const { controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'ip' });
    await until('running', () => running(controller.get('ip')));
    await expect(reconciler.resolveIp(vm.uid, new AbortController().signal)).resolves.toBe('192.168.64.7');
    await expect(reconciler.resolveIp(randomUUID(), new AbortController().signal)).rejects.toThrow(/not running/);
    await reconciler.close();
  });
});
