import { connect } from 'node:net';
import type { VmEndpoint } from '@grove/resources';
import { setupReconciler as setup } from '../test-support/fake-controller';

// The reconciler and VM endpoints (orchard-2026.md §1.2.2): listeners while the VM runs, reported as
// observedEndpoints, replaced without restarting the VM when only they change, closed when it stops.

const ssh: VmEndpoint = { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } } };
const dns: VmEndpoint = { name: 'dns', protocol: 'udp', target: { vm: { port: 53 } } };

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('Reconciler and endpoints', () => {
  it('listens while the VM runs, reports observedEndpoints, and closes them when it stops', async () => {
    const { controller, reconciler, until } = setup();
    controller.place({ name: 'web', endpoints: [ssh, dns] });
    await until('listening', () => controller.get('web').observedEndpoints?.length === 2);
    const observed = controller.get('web').observedEndpoints!;
    expect(observed).toEqual([
      { name: 'ssh', protocol: 'tcp', workerPort: expect.any(Number), state: 'listening' },
      { name: 'dns', protocol: 'udp', workerPort: expect.any(Number), state: 'listening' },
    ]);
    expect(await refused(observed[0].workerPort!)).toBe(false);

    controller.update('web', { powerState: 'stopped', generation: 1 });
    await until('cleared', () => controller.get('web').observedEndpoints === undefined);
    expect(await refused(observed[0].workerPort!)).toBe(true);
    await reconciler.close();
  });

  it('replaces the listeners when only the endpoints change, without restarting the VM', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const vm = controller.place({ name: 'web', endpoints: [ssh] });
    await until('listening', () => controller.get('web').observedEndpoints?.length === 1);
    const runs = runtime.calls.filter((c) => c.startsWith('run ')).length;

    controller.update('web', { endpoints: [ssh, dns], generation: 1 });
    await until(
      'both listening',
      () => controller.get('web').observedEndpoints?.length === 2 && controller.get('web').observedGeneration === 1,
    );
    expect(runtime.calls.filter((c) => c.startsWith('run ')).length).toBe(runs);
    expect(runtime.calls).not.toContain(`stop ${vm.localName}`);
    await reconciler.close();
  });

  it('closes the listeners of a deleted VM, and of every VM when the worker stops', async () => {
    const { controller, reconciler, until } = setup();
    controller.place({ name: 'gone', endpoints: [ssh] });
    controller.place({ name: 'kept', endpoints: [ssh] });
    await until(
      'listening',
      () =>
        controller.get('gone').observedEndpoints?.length === 1 &&
        controller.get('kept').observedEndpoints?.length === 1,
    );
    const gone = controller.get('gone').observedEndpoints![0].workerPort!;
    const kept = controller.get('kept').observedEndpoints![0].workerPort!;
    controller.vms.delete('gone');
    await reconciler.requestSync();
    expect(await refused(gone)).toBe(true);
    expect(await refused(kept)).toBe(false);
    await reconciler.close();
    expect(await refused(kept)).toBe(true);
  });
});
