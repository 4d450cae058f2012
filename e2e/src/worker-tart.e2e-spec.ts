import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
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
const STAND_IN_BIN = join(REPO_ROOT, 'e2e', 'tart', 'bin');
const UBUNTU = 'registry.grove.test/cirruslabs/ubuntu:latest';
// A Tart worker registers the host's architecture; on a Linux x64 test machine that is amd64.
const ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

/** A worker process on the Tart runtime, driving the stand-in `tart` (e2e/tart) in a TART_HOME of its own. */
describe('worker process on the tart runtime (stand-in tart)', () => {
  let controller: ControllerProcess;
  let client: GroveClient;
  let tartHome: string;
  let worker: RunningProcess;
  const env = () => ({
    ...process.env,
    PATH: `${STAND_IN_BIN}${delimiter}${process.env.PATH ?? ''}`,
    TART_HOME: tartHome,
    TART_STANDIN_BOOT_DELAY_MS: '50',
  });
  const tartList = (): { Name: string; Running: boolean }[] =>
    JSON.parse(spawnSync('tart', ['list', '--format', 'json'], { env: env(), encoding: 'utf8' }).stdout) as {
      Name: string;
      Running: boolean;
    }[];
  const until = (what: string, name: string, probe: (vm: Vm) => boolean) =>
    waitFor(
      what,
      async () => {
        const vm = await client.vms.get(name);
        return probe(vm) ? vm : undefined;
      },
      30_000,
      100,
    );

  beforeAll(async () => {
    tartHome = mkdtempSync(join(tmpdir(), 'grove-e2e-tart-'));
    controller = await startController();
    client = adminClient(controller);
    // A VM that is not Grove's: the worker must never touch it.
    expect(spawnSync('tart', ['clone', UBUNTU, 'my-own-vm'], { env: env() }).status).toBe(0);
    worker = startNodeProcess(
      [
        WORKER_MAIN,
        controller.url,
        '--bootstrap-token',
        encodeBootstrapToken({ serviceAccountName: BOOTSTRAP_ADMIN, serviceAccountToken: controller.adminToken }),
        '--name',
        'e2e-tart',
        '--runtime',
        'tart',
      ],
      env(),
    );
    await waitFor('the worker session', () => /connected to http:/.test(worker.output()), 20_000);
  });

  afterAll(async () => {
    await worker?.stop();
    await controller.stop();
    rmSync(tartHome, { recursive: true, force: true });
  });

  it('clones, configures and runs a VM with tart, reports it, and deletes it', async () => {
    const created = await client.vms.create({
      name: 'tart-vm',
      image: UBUNTU,
      os: 'linux',
      arch: ARCH,
      cpu: 2,
      memory: 2048,
    });
    const vm = await until('running', 'tart-vm', (v) => v.status === 'running');
    expect(vm.status_message).toBe('VM started');
    expect(vm.image_fqn).toMatch(/^registry\.grove\.test\/cirruslabs\/ubuntu@sha256:[0-9a-f]{64}$/);
    await waitFor('tart run', () => tartList().some((e) => e.Name === created.localName && e.Running), 5000).catch(
      async (err: Error) => {
        throw new Error(`${err.message}\n${JSON.stringify(await client.vms.get('tart-vm'))}\n${worker.output()}`);
      },
    );
    expect(tartList()).toEqual(
      expect.arrayContaining([expect.objectContaining({ Name: created.localName, Running: true })]),
    );
    await client.vms.delete('tart-vm');
    await waitFor('tart delete', () => !tartList().some((entry) => entry.Name === created.localName), 20_000);
    expect(tartList().map((entry) => entry.Name)).toContain('my-own-vm');
  });

  it('runs commands through the guest agent on the VM control socket (exec), with their exit status', async () => {
    await client.vms.create({ name: 'tart-exec', image: UBUNTU, os: 'linux', arch: ARCH });
    await until('running', 'tart-exec', (v) => v.status === 'running');
    const events = [];
    try {
      for await (const event of client.vms.execStream('tart-exec', {
        command: 'sh',
        args: ['-c', 'echo "hi $GREETING from $(pwd)"; echo oops >&2; exit 5'],
        env: { GREETING: 'there' },
        workdir: '/tmp',
      })) {
        events.push(event);
      }
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nworker output:\n${worker.output().split('\n').slice(-30).join('\n')}`,
      );
    }
    expect(events).toEqual([
      { event: 'started', via: 'agent' },
      { event: 'stdout', data: 'hi there from /tmp\n' },
      { event: 'stderr', data: 'oops\n' },
      { event: 'exit', code: 5 },
    ]);
    await client.vms.delete('tart-exec');
  });

  it('passes audio, clipboard, USB accessories and exposed ports on to tart run (issue 12)', async () => {
    // What the stand-in recorded for each accepted `tart run` (e2e/tart/README.md, "Recorded runs").
    const runs = (): { vm: string; options: Record<string, string[]> }[] => {
      const file = join(tartHome, 'standin', 'runs.jsonl');
      return existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as { vm: string; options: Record<string, string[]> })
        : [];
    };
    const flagged = await client.vms.create({
      name: 'tart-flags',
      image: UBUNTU,
      os: 'linux',
      arch: ARCH,
      audio: true,
      usbAccessories: false,
      netSoftnetExpose: ['2222:22', '8080:80'],
    });
    const plain = await client.vms.create({ name: 'tart-plain', image: UBUNTU, os: 'linux', arch: ARCH });
    await until('running', 'tart-flags', (v) => v.status === 'running');
    await until('running', 'tart-plain', (v) => v.status === 'running');
    const optionsOf = (localName: string) => runs().find((r) => r.vm === localName)?.options;
    // The stand-in appends its record as `tart run` starts; the worker may report the VM running a moment before.
    await waitFor(
      'both runs recorded',
      () => optionsOf(flagged.localName) !== undefined && optionsOf(plain.localName) !== undefined,
      10_000,
      50,
    );

    const options = optionsOf(flagged.localName);
    expect(options).toMatchObject({
      'no-clipboard': [''],
      'no-usb-accessories': [''],
      'net-softnet': [''],
      'net-softnet-expose': ['2222:22,8080:80'],
    });
    expect(options).not.toHaveProperty('no-audio');
    // Audio and clipboard are opt-in; Tart's USB devices stay unless a VM says otherwise.
    const plainOptions = optionsOf(plain.localName);
    expect(plainOptions).toMatchObject({ 'no-audio': [''], 'no-clipboard': [''] });
    expect(plainOptions).not.toHaveProperty('no-usb-accessories');
    expect(plainOptions).not.toHaveProperty('net-softnet-expose');
    await client.vms.delete('tart-flags');
    await client.vms.delete('tart-plain');
  });

  it('reports tart’s first error line when the clone fails', async () => {
    await client.vms.create({
      name: 'tart-missing',
      image: 'registry.grove.test/acme/missing:latest',
      os: 'linux',
      arch: ARCH,
    });
    const vm = await until('failed', 'tart-missing', (v) => v.status === 'failed');
    expect(vm.status_message).toMatch(/^failed to clone the VM: tart command failed: ".+"$/);
  });
});
