import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroveClient } from '@grove/client';
import { encodeBootstrapToken, type Vm } from '@grove/resources';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  type ControllerProcess,
  startController,
} from './test-support/controller-process';
import { REPO_ROOT } from './test-support/paths';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');
const running = (vm: Vm) => vm.conditions.some((c) => c.type === 'running' && c.state === 'true');

/**
 * orchard.md §12 "Worker" and the worker side of "Scheduler", end to end: a real controller process on Postgres and
 * real worker processes with the synthetic runtime (real SSH server per VM), driven through the typed API client.
 */
describe('worker processes running VMs (synthetic runtime)', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let home: string;
  const workers: RunningProcess[] = [];
  let serial = 0;
  const fresh = (prefix: string) => `${prefix}-${process.pid}-${++serial}`;

  function startWorker(name: string, extra: string[] = []): RunningProcess {
    const token = encodeBootstrapToken({
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: controller.adminToken,
    });
    const worker = startNodeProcess([
      WORKER_MAIN,
      controller.url,
      '--bootstrap-token',
      token,
      '--name',
      name,
      '--runtime',
      'synthetic',
      '--data-dir',
      join(home, name),
      '--heartbeat-interval',
      '1',
      ...extra,
    ]);
    workers.push(worker);
    return worker;
  }

  const vmDirs = (worker: string) => {
    const dir = join(home, worker, 'synthetic', 'vms');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  // Linux VMs: macOS ones would hit the two-VMs-per-worker licence slot (org.cirruslabs.tart-vms) after two tests.
  const create = (input: Parameters<GroveClient['vms']['create']>[0]) => client.vms.create({ os: 'linux', ...input });

  /** Polls the VM until the probe holds; on timeout the error shows where the VM got stuck. */
  const until = async (what: string, name: string, probe: (vm: Vm) => boolean, timeoutMs = 20_000) => {
    let last: Vm | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await client.vms.get(name);
          return probe(last) ? last : undefined;
        },
        timeoutMs,
        50,
      );
    } catch (err) {
      const state = last ? `${last.status} "${last.status_message}" on "${last.worker}"` : 'never read';
      throw new Error(`${(err as Error).message}; VM ${name} is ${state}`, { cause: err });
    }
  };

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-workers-'));
    controller = await startController({ args: ['--worker-offline-timeout', '4s'] });
    client = adminClient(controller);
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await controller.stop();
    rmSync(home, { recursive: true, force: true });
  });

  describe('one worker', () => {
    const worker = 'e2e-synthetic-1';

    beforeAll(async () => {
      const proc = startWorker(worker);
      await waitFor('the worker session', () => /connected to http:/.test(proc.output()), 20_000);
    });

    it('runs a VM: running, its image digest, the running condition, and a clone on the worker', async () => {
      const name = fresh('run');
      await create({ name, image: 'any' });
      const vm = await until('running', name, (v) => v.status === 'running' && running(v));
      expect(vm).toMatchObject({ worker, status_message: 'VM started', observedGeneration: 0 });
      expect(vm.image_fqn).toMatch(/^any@sha256:[0-9a-f]{64}$/);
      expect(vm.started_at).not.toBe('0001-01-01T00:00:00Z');
      expect(vmDirs(worker)).toContain(vm.localName);
    });

    it('streams startup-script output as log_line events', async () => {
      const name = fresh('script');
      await create({
        name,
        image: 'any',
        startup_script: {
          script_content: 'echo "hello from $GREETING"\necho to-stderr >&2',
          env: { GREETING: 'grove' },
        },
      });
      await until('the script to finish', name, (v) => v.status_message === 'VM started');
      const payloads = (
        await waitFor('both lines', async () => {
          const events = await client.vms.allEvents(name);
          return events.length >= 2 ? events : undefined;
        })
      ).map((e) => e.payload);
      expect(payloads).toEqual(expect.arrayContaining(['hello from grove', 'to-stderr']));
    });

    it('fails a VM whose startup script exits non-zero, with Orchard’s message', async () => {
      const name = fresh('badscript');
      await create({ name, image: 'any', startup_script: { script_content: 'echo before\nexit 3' } });
      const vm = await until('failed', name, (v) => v.status === 'failed');
      expect(vm.status_message).toBe('VM failed: failed to run startup script: Process exited with status 3');
    });

    it('reports a failing runtime step as the VM’s failure', async () => {
      const name = fresh('badclone');
      await create({ name, image: 'acme/fail-clone' });
      const vm = await until('failed', name, (v) => v.status === 'failed');
      expect(vm.status_message).toMatch(/^failed to clone the VM: synthetic runtime: clone of "acme\/fail-clone"/);
    });

    it('stops a VM whose power state is set to stopped and catches observedGeneration up', async () => {
      const name = fresh('halt');
      await create({ name, image: 'any' });
      await until('running', name, running);
      await client.vms.updateSpec(name, { powerState: 'stopped' });
      const vm = await until('stopped', name, (v) => v.observedGeneration === 1 && !running(v));
      expect(vm).toMatchObject({ status: 'running', generation: 1, status_message: 'VM stopped' });
    });

    it('runs a VM with the fields of newer Orchard, and stops it at once when its spec changes (issue 12)', async () => {
      const name = fresh('newer');
      await create({
        name,
        image: 'any',
        audio: true,
        clipboard: true,
        usbAccessories: false,
        netSoftnetExpose: ['2222:22'],
      });
      const up = await until('running', name, running);
      expect(up).toMatchObject({ audio: true, clipboard: true, usbAccessories: false, netSoftnetExpose: ['2222:22'] });
      // The worker polls its VMs every 5 s (SYNC_POLL_INTERVAL_MS); the update's SyncVms nudge must beat that. (A poll
      // may happen to fall in the window too; vm-orchard-fields.int-spec.ts shows the nudge itself.)
      await client.vms.updateSpec(name, { powerState: 'stopped' });
      const stopped = await until('stopped well before the next poll', name, (v) => !running(v), 3_000);
      expect(stopped).toMatchObject({ generation: 1 });
    });

    it('stops and removes the clone of a deleted VM', async () => {
      const name = fresh('gone');
      const created = await create({ name, image: 'any' });
      await until('running', name, running);
      expect(vmDirs(worker)).toContain(created.localName);
      await client.vms.delete(name);
      await waitFor('the clone to go', () => !vmDirs(worker).includes(created.localName), 20_000);
    });

    it('leaves a VM whose labels no worker carries pending, saying why', async () => {
      const name = fresh('labelled');
      await create({ name, image: 'any', labels: { role: 'gpu' } });
      const vm = await until('a reason', name, (v) => v.status_message !== '');
      expect(vm.status).toBe('pending');
      expect(vm.status_message).toMatch(/role/);
    });
  });

  describe('a worker that dies', () => {
    it('gets its VMs failed after the offline timeout, and after a restart deletes the clones it no longer owns', async () => {
      const worker = 'e2e-synthetic-doomed';
      const first = startWorker(worker, ['--labels', 'doomed=yes']);
      await waitFor('the worker session', () => /connected to http:/.test(first.output()), 20_000);
      const kept = fresh('kept');
      const dropped = fresh('dropped');
      const keptVm = await create({ name: kept, image: 'any', labels: { doomed: 'yes' } });
      const droppedVm = await create({ name: dropped, image: 'any', labels: { doomed: 'yes' } });
      await until('running', kept, running);
      await until('running', dropped, running);
      // A foreign VM directory next to Grove's must survive garbage collection.
      mkdirSync(join(home, worker, 'synthetic', 'vms', 'somebody-elses-vm'), { recursive: true });

      await first.stop('SIGKILL');
      const failed = await until('failed', kept, (v) => v.status === 'failed', 30_000);
      expect(failed.status_message).toBe('VM is assigned to a worker that lost connection with the controller');

      await client.vms.delete(dropped);
      const second = startWorker(worker, ['--labels', 'doomed=yes']);
      await waitFor('the clone of the deleted VM to go', () => !vmDirs(worker).includes(droppedVm.localName), 20_000);
      expect(vmDirs(worker)).toEqual(expect.arrayContaining([keptVm.localName, 'somebody-elses-vm']));
      expect(second.output()).toMatch(new RegExp(`garbage-collecting ${droppedVm.localName}`));
    });
  });
});
