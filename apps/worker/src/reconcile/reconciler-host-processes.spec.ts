import type { Vm } from '@grove/resources';
import { setupReconciler } from '../test-support/fake-controller';
import { alive, echoProcess, readDescription } from '../test-support/host-process-helpers';
import type { Reconciler } from './reconciler';
import { HOST_PROCESSES_DISABLED_MESSAGE } from './vm-sidecars';

// The reconciler and VM host processes (orchard-2026.md §1.2.3): started before the VM's run, the VM failed when one
// cannot start, condition host-processes-ready reported, restarted without the VM when only they change, stopped
// when the run ends.

const condition = (vm: Vm, type: 'running' | 'host-processes-ready') =>
  vm.conditions.find((c) => c.type === type)?.state;

async function describeProcess(reconciler: Reconciler, vm: Vm, name: string) {
  const socket = await reconciler.connectHostProcess(vm.uid, name, new AbortController().signal);
  try {
    return await readDescription(socket);
  } finally {
    socket.destroy();
  }
}

describe('Reconciler and host processes', () => {
  const open: Reconciler[] = [];
  /** A reconciler that is closed after the test (stopping its processes) even when the test fails. */
  const setup = (options?: Parameters<typeof setupReconciler>[0]) => {
    const made = setupReconciler(options);
    open.push(made.reconciler);
    return made;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((reconciler) => reconciler.close()));
  });

  it('starts the processes before the run and reports them ready', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const release = runtime.hold('run');
    const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('proxy')] });
    await until('run called', () => runtime.calls.includes(`run ${vm.localName}`));
    // The run has not begun yet, and the process already listens.
    const described = await describeProcess(reconciler, vm, 'proxy');
    expect(described.env).toMatchObject({
      ORCHARD_WORKER_NAME: 'mac-1',
      ORCHARD_VM_NAME: 'web',
      GROVE_VM_CONTROL_SOCKET: `${described.cwd}/vm.sock`,
    });
    release();
    await until(
      'ready',
      () =>
        condition(controller.get('web'), 'host-processes-ready') === 'true' &&
        controller.get('web').status === 'running',
    );
    expect(condition(controller.get('web'), 'running')).toBe('true');
    await reconciler.close();
    expect(alive(described.pid)).toBe(false);
  });

  it('fails the VM without running it when a process cannot start, and stops the others', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({
      name: 'web',
      hostProcesses: [echoProcess('good'), echoProcess('bad', '--exit', '3')],
    });
    await until('failed', () => controller.get('web').status === 'failed');
    expect(controller.get('web').status_message).toBe('failed to start host process "bad": exited with code 3');
    expect(runtime.calls).not.toContain(`run ${vm.localName}`);
    await expect(describeProcess(reconciler, vm, 'good')).rejects.toThrow('host process "good" is not running');
    await reconciler.close();
  });

  it('restarts only the processes when only they change, and reports the new generation', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('proxy', 'one')] });
    await until('ready', () => condition(controller.get('web'), 'host-processes-ready') === 'true');
    const before = await describeProcess(reconciler, vm, 'proxy');

    controller.update('web', { hostProcesses: [echoProcess('proxy', 'two'), echoProcess('extra')], generation: 1 });
    await until(
      'the new generation ready',
      () =>
        controller.get('web').observedGeneration === 1 &&
        condition(controller.get('web'), 'host-processes-ready') === 'true',
    );
    const after = await describeProcess(reconciler, vm, 'proxy');
    expect(after.argv).toEqual(['two']);
    expect(alive(before.pid)).toBe(false);
    expect((await describeProcess(reconciler, vm, 'extra')).argv).toEqual([]);
    expect(runtime.calls.filter((c) => c.startsWith('run ')).length).toBe(1);
    expect(runtime.calls.some((c) => c.startsWith('stop '))).toBe(false);
    expect(controller.get('web').status).toBe('running');
    await reconciler.close();
  });

  it('reports a process that exits later while the VM keeps running, until its run ends', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('proxy'), echoProcess('other')] });
    await until('ready', () => condition(controller.get('web'), 'host-processes-ready') === 'true');
    const other = await describeProcess(reconciler, vm, 'other');
    const socket = await reconciler.connectHostProcess(vm.uid, 'proxy', new AbortController().signal);
    await readDescription(socket);
    socket.end('exit 4\n');
    await until('not ready', () => condition(controller.get('web'), 'host-processes-ready') === 'false');
    expect(controller.get('web')).toMatchObject({
      status: 'running',
      status_message: 'host process "proxy" exited with code 4',
    });
    expect(condition(controller.get('web'), 'running')).toBe('true');
    expect(runtime.isRunning(vm.localName)).toBe(true);

    controller.update('web', { powerState: 'stopped', generation: 1 });
    await until('stopped', () => condition(controller.get('web'), 'running') === 'false');
    expect(alive(other.pid)).toBe(false);
    expect(controller.get('web').status_message).toBe('VM stopped');
    expect(condition(controller.get('web'), 'host-processes-ready')).toBe('false');
    await reconciler.close();
  });

  it('stops the processes when the VM crashes', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('proxy')] });
    await until('ready', () => condition(controller.get('web'), 'host-processes-ready') === 'true');
    const { pid } = await describeProcess(reconciler, vm, 'proxy');
    runtime.exit(vm.localName, { code: 1, error: 'crashed' });
    await until('failed', () => controller.get('web').status === 'failed');
    expect(alive(pid)).toBe(false);
    expect(condition(controller.get('web'), 'host-processes-ready')).toBe('false');
    await reconciler.close();
  });

  it('fails a VM with host processes on a worker started with --no-host-processes, running nothing', async () => {
    const { runtime, controller, reconciler, until } = setup({ hostProcesses: false });
    const vm = controller.place({ name: 'web', hostProcesses: [echoProcess('proxy')] });
    controller.place({ name: 'plain' });
    await until('failed', () => controller.get('web').status === 'failed');
    expect(controller.get('web').status_message).toBe(HOST_PROCESSES_DISABLED_MESSAGE);
    expect(runtime.calls).not.toContain(`run ${vm.localName}`);
    await until('the other VM running', () => controller.get('plain').status === 'running');
    expect(controller.get('plain').conditions.some((c) => c.type === 'host-processes-ready')).toBe(false);
    await reconciler.close();
  });
});
