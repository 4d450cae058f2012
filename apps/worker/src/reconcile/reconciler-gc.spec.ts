import { randomUUID } from 'node:crypto';
import { vmLocalName, type Vm } from '@grove/resources';
import { waitFor } from '@grove/testing';
import { setupReconciler as setup } from '../test-support/fake-controller';

const IMAGE = 'ghcr.io/acme/macos:latest';
const stopsAndDeletes = (calls: string[]) => calls.filter((c) => /^(stop|delete) /.test(c));

/** On-disk garbage collection in every pass (issue 11, "continuous garbage collection"). */
describe('Reconciler garbage collection', () => {
  it('deletes the clone of a VM deleted while this worker did not manage it, in the next pass', async () => {
    const { runtime, controller, reconciler, until } = setup();
    // The worker restarted: its clone is on disk, the controller still calls the VM running.
    const vm = controller.place({ name: 'old' });
    controller.update('old', { status: 'running' });
    runtime.onDisk.set(vm.localName, { running: false, suspended: false });
    await until('failed', () => controller.get('old').status === 'failed');
    // A failed VM keeps its clone until it is deleted.
    expect(runtime.onDisk.has(vm.localName)).toBe(true);

    controller.vms.delete('old');
    await reconciler.requestSync();

    // One pass is enough: nothing asks for another while this waits.
    await waitFor('the clone to go', () => !runtime.onDisk.has(vm.localName));
    expect(stopsAndDeletes(runtime.calls)).toEqual([`delete ${vm.localName}`]);
    await reconciler.close();
  });

  it('stops a running clone before deleting it, and never touches foreign or Orchard VMs', async () => {
    const { runtime, controller, reconciler, logs } = setup();
    const kept = controller.place({ name: 'kept' });
    controller.update('kept', { status: 'running' });
    const stray = vmLocalName('stray', randomUUID(), 0);
    const orchards = `orchard-x-${randomUUID()}-0`;
    for (const name of [kept.localName, stray, 'macos-sequoia-base', orchards, 'grove-ci-not-a-uuid-0']) {
      runtime.onDisk.set(name, { running: true, suspended: false });
    }

    await reconciler.requestSync();
    await reconciler.requestSync();
    await reconciler.close();

    expect([...runtime.onDisk.keys()].sort()).toEqual(
      [kept.localName, 'macos-sequoia-base', orchards, 'grove-ci-not-a-uuid-0'].sort(),
    );
    // The known clone is only stopped (its VM failed: "Worker lost track of VM"), and only once.
    expect(stopsAndDeletes(runtime.calls).sort()).toEqual(
      [`stop ${stray} 30`, `delete ${stray}`, `stop ${kept.localName} 30`].sort(),
    );
    expect(runtime.calls.indexOf(`stop ${stray} 30`)).toBeLessThan(runtime.calls.indexOf(`delete ${stray}`));
    expect(logs.filter((line) => line.startsWith('leaving grove-ci-not-a-uuid-0 alone'))).toHaveLength(1);
  });

  it('never deletes a clone being made, nor that of a VM placed after the list was read', async () => {
    const { runtime, controller, reconciler, until } = setup();
    const release = runtime.hold('clone');
    const early = controller.place({ name: 'early' });
    let late: Vm | undefined;
    controller.afterList = () => {
      controller.afterList = undefined;
      late = controller.place({ name: 'late' });
    };

    await reconciler.requestSync(); // sees only "early" and starts its clone
    await reconciler.requestSync(); // sees "late" and starts its clone
    await reconciler.requestSync(); // both clones are on disk, half made
    expect(runtime.onDisk.has(early.localName)).toBe(true);
    expect(runtime.onDisk.has(late!.localName)).toBe(true);
    expect(runtime.calls).toEqual([`clone ${IMAGE} ${early.localName}`, `clone ${IMAGE} ${late!.localName}`]);

    release();
    await until('both running', () => ['early', 'late'].every((name) => controller.get(name).status === 'running'));
    expect(stopsAndDeletes(runtime.calls)).toEqual([]);
    await reconciler.close();
  });

  it('deletes the half-made clone of a pending VM first, then clones it again', async () => {
    const { runtime, controller, reconciler, until } = setup();
    // The worker died while cloning: the VM is still pending, its clone exists.
    const vm = controller.place({ name: 'half' });
    runtime.onDisk.set(vm.localName, { running: false, suspended: false });
    const release = runtime.hold('delete');

    await reconciler.requestSync();
    await reconciler.requestSync();
    // `tart clone` would refuse the name while the old clone is there.
    expect(runtime.calls).toEqual([`delete ${vm.localName}`]);

    release();
    await until('running', () => controller.get('half').status === 'running');
    expect(runtime.calls.slice(0, 2)).toEqual([`delete ${vm.localName}`, `clone ${IMAGE} ${vm.localName}`]);
    await reconciler.close();
  });

  it('retries a failed deletion in a later pass', async () => {
    const { runtime, reconciler, logs } = setup();
    const stray = vmLocalName('stray', randomUUID(), 0);
    runtime.onDisk.set(stray, { running: false, suspended: false });
    runtime.failures.set('delete', 'tart command failed: "busy"');

    await reconciler.requestSync();
    await waitFor('the failure', () => logs.some((line) => line.includes('busy')));
    await reconciler.requestSync();
    await waitFor('a second failure', () => logs.filter((line) => line.includes('busy')).length === 2);
    runtime.failures.delete('delete');
    await reconciler.requestSync();

    await waitFor('the clone to go', () => !runtime.onDisk.has(stray));
    expect(runtime.calls).toEqual([`delete ${stray}`, `delete ${stray}`, `delete ${stray}`]);
    await reconciler.close();
  });

  it('deletes nothing when the controller’s list cannot be read', async () => {
    const { runtime, controller, reconciler, logs } = setup();
    const stray = vmLocalName('stray', randomUUID(), 0);
    runtime.onDisk.set(stray, { running: false, suspended: false });
    controller.listVms = () => Promise.reject(new Error('cannot reach the controller'));

    await reconciler.requestSync();

    expect(logs).toEqual(['VM sync failed: cannot reach the controller']);
    expect(runtime.calls).toEqual([]);
    await reconciler.close();
  });
});
