import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClientDuplexStream, type ServiceError, credentials } from '@grpc/grpc-js';
import { type TartExecRequestInput, type TartExecResponse, loadTartAgentProtocol } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { REPO_ROOT } from './test-support/paths';

/** The stand-in `tart` (tart.md §7), built by `npx tsc -b tsconfig.build.json`, run through its sh wrapper. */
const TART = join(REPO_ROOT, 'e2e', 'tart', 'bin', 'tart');
const MAIN = join(REPO_ROOT, 'e2e', 'dist', 'tart', 'main.js');

const MACOS = 'registry.grove.test/acme/macos:latest';
const LINUX = 'registry.grove.test/acme/ubuntu:24.04';
const CATALOGUE = {
  images: {
    [MACOS]: { os: 'darwin', cpu: 4, memoryMiB: 8192, diskGB: 50, macAddress: '02:11:22:33:44:05' },
    [LINUX]: { os: 'linux', cpu: 2, memoryMiB: 2048, diskGB: 20 },
  },
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let home: string;
let scratch: string;
const children = new Set<ChildProcess>();

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TART_') && key !== 'CI') {
      env[key] = value;
    }
  }
  return {
    ...env,
    TART_HOME: home,
    CI: '1',
    TART_STANDIN_REGISTRY: join(scratch, 'catalogue.json'),
    TART_STANDIN_BOOT_DELAY_MS: '100',
    TART_STANDIN_IP_POLL_MS: '100',
    ...extra,
  };
}

function start(args: string[], extra: Record<string, string> = {}) {
  const child = spawn(TART, args, { env: environment(extra), stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
  const exited = new Promise<Result & { signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, ...out });
    }),
  );
  return { child, out, exited };
}

async function tart(args: string[], extra: Record<string, string> = {}, input = ''): Promise<Result> {
  const run = start(args, extra);
  run.child.stdin.end(input);
  return run.exited;
}

function listJson(): Promise<any[]> {
  return tart(['list', '--format', 'json']).then((r) => JSON.parse(r.stdout));
}

async function running(name: string): Promise<boolean> {
  return (await listJson()).find((vm) => vm.Name === name)?.Running === true;
}

/** Starts `tart run <name>` and waits until `list` reports it running. */
async function startVm(name: string, flags: string[] = [], extra: Record<string, string> = {}) {
  const vm = start(['run', name, '--no-graphics', ...flags], extra);
  await waitFor(`${name} to run`, () => running(name));
  return vm;
}

function agentClient(name: string) {
  const { Agent } = loadTartAgentProtocol();
  return new Agent(`unix://${join(home, 'vms', name, 'control.sock')}`, credentials.createInsecure());
}

/** Runs one Exec over gRPC and collects everything the agent sends. */
function rawExec(name: string, first: TartExecRequestInput, input?: Buffer) {
  const client = agentClient(name);
  const call: ClientDuplexStream<TartExecRequestInput, TartExecResponse> = client.Exec();
  const responses: TartExecResponse[] = [];
  call.on('data', (r: TartExecResponse) => responses.push(r));
  const done = new Promise<{ responses: TartExecResponse[]; error?: ServiceError }>((resolve) => {
    call.on('error', (error: ServiceError) => resolve({ responses, error }));
    call.on('status', (s: { code: number }) => s.code === 0 && resolve({ responses }));
  }).finally(() => client.close());
  call.write(first);
  if (input) {
    call.write({ standard_input: { data: input } });
    call.write({ standard_input: { data: Buffer.alloc(0) } });
  }
  return done;
}

beforeAll(() => {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
});

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'grove-tart-'));
  home = join(scratch, 'home', 'not-yet-created');
  writeFileSync(join(scratch, 'catalogue.json'), JSON.stringify(CATALOGUE));
});

afterEach(async () => {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  rmSync(scratch, { recursive: true, force: true });
});

describe('tart stand-in: CLI conventions (tart.md §1.1)', () => {
  it('prints a configurable semver for --version and creates TART_HOME', async () => {
    expect(await tart(['--version'])).toMatchObject({ code: 0, stdout: '2.35.0\n' });
    expect((await tart(['--version'], { TART_STANDIN_VERSION: '2.34.1' })).stdout).toBe('2.34.1\n');
    expect(await tart(['list', '--format', 'json'])).toMatchObject({ code: 0, stdout: '[]\n' });
    for (const dir of ['vms', 'cache/OCIs', 'tmp']) {
      expect(statSync(join(home, dir)).isDirectory()).toBe(true);
    }
  });

  it('reports usage errors with exit 64 and runtime errors in their three shapes', async () => {
    const unknown = await tart(['get', 'vm', '--bogus']);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toBe(
      "Error: Unknown option '--bogus'\nUsage: tart get <name> [--format <format>]\n  See 'tart get --help' for more information.\n",
    );
    expect(await tart(['list', '--source', 'foo'])).toMatchObject({ code: 64 });
    expect((await tart(['get'])).stderr).toMatch(/^Error: Missing expected argument '<name>'\nUsage: tart get/);
    expect(await tart(['ip', 'vm', '--resolver=nope'])).toMatchObject({ code: 64 });

    expect(await tart(['get', 'ghost'])).toMatchObject({
      code: 2,
      stderr: 'the specified VM "ghost" does not exist\n',
    });
    expect(await tart(['run', 'ghost'])).toMatchObject({
      code: 1,
      stderr: 'Error: the specified VM "ghost" does not exist\n',
    });
    expect(await tart(['delete', 'ghost'])).toMatchObject({ code: 2 });
  });
});

describe('tart stand-in: storage, clone, pull, set (tart.md §1.2, §2)', () => {
  it('clones from the fake registry into the real layout and lists it with the exact JSON keys', async () => {
    const clone = await tart(['clone', MACOS, 'vm-a']);
    expect(clone.code).toBe(0);
    expect(clone.stdout).toMatch(
      /^pulling manifest...\npulling disk \(25\.0 GB compressed\)...\n0%\n[\s\S]*100%\npulling NVRAM...\n$/,
    );

    const vmDir = join(home, 'vms', 'vm-a');
    const disk = statSync(join(vmDir, 'disk.img'));
    expect(disk.size).toBe(50 * 1e9);
    expect(disk.blocks * 512).toBeLessThan(1e6); // sparse
    expect(existsSync(join(vmDir, 'nvram.bin'))).toBe(true);
    const config = JSON.parse(readFileSync(join(vmDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ version: 1, os: 'darwin', cpuCount: 4, macAddress: '02:11:22:33:44:05' });

    const repo = join(home, 'cache', 'OCIs', 'registry.grove.test', 'acme', 'macos');
    expect(lstatSync(join(repo, 'latest')).isSymbolicLink()).toBe(true);
    const digest = readlinkSync(join(repo, 'latest'));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(join(repo, digest, 'manifest.json'))).toBe(true);

    const list = await listJson();
    expect(list.map((e) => [e.Source, e.Name])).toEqual([
      ['local', 'vm-a'],
      ['OCI', MACOS],
      ['OCI', `registry.grove.test/acme/macos@${digest}`],
    ]);
    expect(Object.keys(list[0]).sort()).toEqual(['Accessed', 'Disk', 'Name', 'Running', 'Size', 'Source', 'State']);
    expect(list[0]).toMatchObject({ Disk: 50, Size: 0, Running: false, State: 'stopped' });
    expect(list[0].Accessed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(JSON.parse((await tart(['get', 'vm-a', '--format', 'json'])).stdout)).toEqual({
      OS: 'darwin',
      CPU: 4,
      Memory: 8192,
      Disk: 50,
      DiskFormat: 'raw',
      Size: '0.000',
      Display: '1024x768',
      Running: false,
      State: 'stopped',
    });
    expect((await tart(['fqn', MACOS])).stdout).toBe(`registry.grove.test/acme/macos@${digest}\n`);
    expect((await tart(['fqn', 'vm-a'])).stdout).toBe('vm-a\n');

    // Cached: no pull output; the MAC changes only because vm-a already has it; the target is silently replaced.
    expect(await tart(['clone', MACOS, 'vm-b'])).toMatchObject({ code: 0, stdout: '' });
    const macB = JSON.parse(readFileSync(join(home, 'vms', 'vm-b', 'config.json'), 'utf8')).macAddress;
    expect(macB).not.toBe('02:11:22:33:44:05');
    expect(await tart(['clone', 'vm-a', 'vm-b'])).toMatchObject({ code: 0 });
    expect(await tart(['clone', 'vm-a', 'a/b'])).toMatchObject({ code: 64 });
    expect(await tart(['clone', 'missing', 'vm-c'])).toMatchObject({ code: 2 });
    expect((await tart(['pull', 'vm-a'])).stdout).toBe('"vm-a" is a local image, nothing to pull here!\n');
    expect((await tart(['pull', MACOS])).stdout).toBe(
      `pulling manifest...\nregistry.grove.test/acme/macos@${digest} image is already cached and linked!\n`,
    );
    expect(await tart(['delete', MACOS])).toMatchObject({ code: 0 });
    expect(existsSync(join(repo, digest))).toBe(false); // unreferenced digest collected
  });

  it('fails pulls like a registry: 404 and 401 at once, network errors after retries', async () => {
    const missing = await tart(['clone', 'registry.grove.test/acme/nope:latest', 'vm']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: UnexpectedHTTPStatusCode\(when: "pulling manifest", code: 404/);
    const denied = await tart(['pull', LINUX], { TART_STANDIN_PULL_FAILURE: '401' });
    expect(denied).toMatchObject({ code: 1, stdout: 'pulling manifest...\n' });
    expect(denied.stderr).toMatch(/^Error: AuthFailed\(why: "received unexpected HTTP status code 401/);

    const flaky = await tart(['pull', LINUX], { TART_STANDIN_PULL_FAILURE: 'network:2' });
    expect(flaky.code).toBe(0);
    expect(flaky.stdout.match(/Error pulling image: "The request timed out.", attempting to re-try.../g)).toHaveLength(
      2,
    );
    const down = await tart(['pull', 'registry.grove.test/acme/ubuntu:other'], {
      TART_STANDIN_PULL_FAILURE: 'network',
    });
    expect(down).toMatchObject({ code: 1, stderr: 'Error: The request timed out.\n' });
    expect(down.stdout.match(/attempting to re-try/g)).toHaveLength(4);
    expect(await tart(['list', '-q'])).toMatchObject({
      stdout: `${LINUX}\nregistry.grove.test/acme/ubuntu@${readlinkSync(join(home, 'cache/OCIs/registry.grove.test/acme/ubuntu/24.04'))}\n`,
    });
  });

  it('sets resources with interleaved options, enforcing minimums and grow-only disks', async () => {
    await tart(['clone', MACOS, 'vm']);
    expect(await tart(['set', '--cpu=6', 'vm', '--memory', '16384', '--display', '1920x1080px'])).toMatchObject({
      code: 0,
      stdout: '',
    });
    expect(JSON.parse((await tart(['get', 'vm', '--format=json'])).stdout)).toMatchObject({
      CPU: 6,
      Memory: 16384,
      Display: '1920x1080px',
    });
    expect(await tart(['set', 'vm', '--cpu', '2'])).toMatchObject({
      code: 1,
      stderr:
        'Error: LessThanMinimalResourcesError(userExplanation: "VM should have 4 CPU cores at minimum (requested 2)")\n',
    });
    expect(await tart(['set', 'vm', '--disk-size', '10'])).toMatchObject({
      code: 1,
      stderr: 'new disk size of 10 GB should be larger than the current disk size of 50 GB\n',
    });
    expect(await tart(['set', 'vm', '--disk-size', '80'])).toMatchObject({ code: 0 });
    expect(statSync(join(home, 'vms', 'vm', 'disk.img')).size).toBe(80e9);
    const before = JSON.parse(readFileSync(join(home, 'vms', 'vm', 'config.json'), 'utf8'));
    await tart(['set', 'vm', '--random-mac', '--random-serial']);
    const after = JSON.parse(readFileSync(join(home, 'vms', 'vm', 'config.json'), 'utf8'));
    expect(after.macAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(after.macAddress).not.toBe(before.macAddress);
    expect(after.ecid).not.toBe(before.ecid);
  });
});

describe('tart stand-in: run, ip, exec, stop (tart.md §1.2, §4)', () => {
  it('runs a VM in the foreground: lock, lease, agent exec, stop', async () => {
    await tart(['clone', LINUX, 'vm']);
    const vm = await startVm('vm', ['--dir=src:/tmp:ro', '--net-softnet-allow', '10.0.0.0/8']);
    expect(await tart(['run', 'vm'])).toMatchObject({ code: 2, stderr: 'VM "vm" is already running!\n' });
    expect(await tart(['delete', 'vm'])).toMatchObject({ code: 1, stderr: 'VM "vm" is running\n' });

    const ip = await tart(['ip', 'vm', '--wait', '10']);
    expect(ip).toMatchObject({ code: 0, stdout: '192.168.64.2\n' });
    expect(readFileSync(join(home, 'standin', 'dhcpd_leases'), 'utf8')).toContain('ip_address=192.168.64.2');
    expect(await tart(['ip', 'vm', '--resolver', 'agent'])).toMatchObject({ code: 0, stdout: '192.168.64.2\n' });
    expect(await tart(['ip', 'vm', '--resolver', 'arp'])).toMatchObject({
      code: 1,
      stderr: 'no IP address found (not all Linux distributions are compatible with the ARP resolver)\n',
    });

    expect(await tart(['exec', 'vm', 'sh', '-c', 'echo out; echo err >&2; exit 3'])).toMatchObject({
      code: 3,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(await tart(['exec', '-i', 'vm', 'tr', 'a-z', 'A-Z'], {}, 'hello\n')).toMatchObject({
      code: 0,
      stdout: 'HELLO\n',
    });
    const missing = await tart(['exec', 'vm', 'no-such-command-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('exec: "no-such-command-here": executable file not found in $PATH');

    expect(await tart(['stop', 'vm', '--timeout', '5'])).toMatchObject({ code: 0 });
    expect(await vm.exited).toMatchObject({ code: 0, stdout: 'Stopping VM...\n', stderr: '' });
    expect(await running('vm')).toBe(false);
    expect(await tart(['stop', 'vm'])).toMatchObject({ code: 2, stderr: 'VM "vm" is not running\n' });
    expect(await tart(['exec', 'vm', 'true'])).toMatchObject({ code: 2, stderr: 'VM "vm" is not running\n' });
    // The dhcp resolver does not care that the VM stopped while the lease is valid (tart#172).
    expect((await tart(['ip', 'vm'])).stdout).toBe('192.168.64.2\n');
  });

  it('implements Exec semantics over control.sock', async () => {
    await tart(['clone', LINUX, 'vm']);
    await startVm('vm');
    await waitFor('the agent', async () => (await tart(['ip', 'vm', '--resolver', 'agent'])).code === 0);

    const notFirst = await rawExec('vm', { standard_input: { data: Buffer.from('x') } });
    expect(notFirst.error?.details).toBe('first exec request should describe a command to execute');
    const big = await rawExec('vm', { command: { name: 'head', args: ['-c', '20000', '/dev/zero'] } });
    const chunks = big.responses.filter((r) => r.type === 'standard_output');
    expect(chunks.every((r) => r.type === 'standard_output' && r.standard_output.data.length <= 4096)).toBe(true);
    expect(chunks.reduce((n, r) => n + (r.type === 'standard_output' ? r.standard_output.data.length : 0), 0)).toBe(
      20000,
    );
    expect(big.responses.filter((r) => r.type === 'exit')).toEqual([{ type: 'exit', exit: { code: 0 } }]);
    expect(big.responses.at(-1)?.type).toBe('exit');

    const tty = await rawExec('vm', { command: { name: 'sh', args: ['-c', 'echo e >&2'], tty: true } });
    expect(tty.responses.map((r) => r.type)).toEqual(['standard_output', 'exit']);
    const env = await rawExec(
      'vm',
      {
        command: {
          name: 'sh',
          args: ['-c', 'echo "$GREETING $(pwd)"; cat'],
          interactive: true,
          env: { GREETING: 'hi' },
          workdir: scratch,
        },
      },
      Buffer.from('stdin!'),
    );
    const text = env.responses
      .map((r) => (r.type === 'standard_output' ? r.standard_output.data.toString() : ''))
      .join('');
    expect(text).toBe(`hi ${scratch}\nstdin!`);
  });

  it('handles SIGUSR1 (suspend), SIGUSR2 (guest stop) and SIGTERM (no cleanup)', async () => {
    await tart(['clone', MACOS, 'mac']);
    let vm = await startVm('mac', ['--suspendable']);
    expect(await tart(['suspend', 'mac'])).toMatchObject({ code: 0 });
    expect(await vm.exited).toMatchObject({
      code: 0,
      stdout:
        'pausing VM to take a snapshot...\ncreating a snapshot...\nsnapshot created successfully! shutting down the VM...\n',
    });
    expect(existsSync(join(home, 'vms', 'mac', 'state.vzvmsave'))).toBe(true);
    expect((await listJson())[0]).toMatchObject({ Name: 'mac', Running: false, State: 'suspended' });
    expect(await tart(['suspend', 'mac'])).toMatchObject({
      code: 2,
      stderr: 'VM "VM "mac" is not running" is not running\n',
    });

    vm = await startVm('mac'); // resumes: --suspendable is implied
    await waitFor('resume output', () => vm.out.stdout === 'restoring VM state from a snapshot...\nresuming VM...\n');
    expect(existsSync(join(home, 'vms', 'mac', 'state.vzvmsave'))).toBe(false);
    vm.child.kill('SIGUSR2');
    expect(await vm.exited).toMatchObject({ code: 0 });
    expect(vm.out.stdout).toContain('guest has stopped the virtual machine\n');

    vm = await startVm('mac');
    vm.child.kill('SIGUSR1');
    expect(await vm.exited).toMatchObject({ code: 1 });
    expect(vm.out.stdout).toMatch(/^Failed to suspend the VM: /);

    vm = await startVm('mac');
    const socket = join(home, 'vms', 'mac', 'control.sock');
    await waitFor('control.sock', () => existsSync(socket)); // bound after the lock is taken, as in Tart
    vm.child.kill('SIGTERM');
    expect(await vm.exited).toMatchObject({ signal: 'SIGTERM' });
    expect(existsSync(socket)).toBe(true);
    expect(await running('mac')).toBe(false);
    vm = await startVm('mac'); // a stale socket does not stop the next run
    await waitFor('the agent', async () => (await tart(['ip', 'mac', '--resolver', 'agent'])).code === 0);
  });

  it('validates run flags and enforces the macOS VM limit', async () => {
    await tart(['clone', LINUX, 'linux']);
    await tart(['clone', MACOS, 'mac-1']);
    await tart(['clone', MACOS, 'mac-2']);
    const flags: [string[], string][] = [
      [
        ['--net-bridged=en0', '--net-softnet'],
        'Error: --net-bridged, --net-softnet and --net-host are mutually exclusive',
      ],
      [['--suspendable'], 'Error: You can only suspend macOS VMs'],
      [
        ['--dir', '/a', '--dir', 'b:/b'],
        'Error: invalid --dir syntax: for multiple directory shares each one of them should be named',
      ],
      [['--net-bridged', 'en7'], 'Error: no bridge interfaces matched "["en7"]", available interfaces: ["en0"]'],
    ];
    for (const [extra, message] of flags) {
      const result = await tart(['run', 'linux', ...extra]);
      expect([result.code, result.stderr.split('\n')[0]]).toEqual([64, message]);
      expect(result.stderr).toContain("See 'tart run --help' for more information.");
    }

    await startVm('mac-1', [], { TART_STANDIN_VM_LIMIT: '1' });
    expect(await tart(['run', 'mac-2'], { TART_STANDIN_VM_LIMIT: '1' })).toMatchObject({
      code: 1,
      stderr: 'The number of VMs exceeds the system limit (other running VMs: mac-1)\n',
    });
    await startVm('linux', [], { TART_STANDIN_VM_LIMIT: '1' }); // Linux guests are not counted
  });
});

describe('tart stand-in: fault injection', () => {
  it('fails to start, to get an IP, to reach the agent, and stops the guest on cue', async () => {
    await tart(['clone', LINUX, 'vm']);
    const failed = await tart(['run', 'vm'], { TART_STANDIN_START_FAILURE: '1' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start."/);
    expect(await running('vm')).toBe(false);

    let vm = await startVm('vm', [], { TART_STANDIN_NO_IP: '1', TART_STANDIN_AGENT: 'absent' });
    expect(await tart(['ip', 'vm', '--wait', '1'])).toMatchObject({ code: 1, stderr: 'no IP address found\n' });
    expect(await tart(['ip', 'vm', '--resolver', 'agent'])).toMatchObject({
      code: 1,
      stderr: 'no IP address found (also make sure that Guest agent for Tart is running inside of a VM)\n',
    });
    const exec = await tart(['exec', 'vm', 'true'], { TART_STANDIN_EXEC_CONNECT_TIMEOUT_MS: '300' });
    expect(exec.code).toBe(1);
    expect(exec.stderr).toMatch(
      /^Failed to connect to the VM using its control socket: .*, is the Tart Guest Agent running\?\n$/,
    );
    vm.child.kill('SIGINT');
    await vm.exited;
    expect(await tart(['ip', 'vm'])).toMatchObject({ code: 1, stderr: 'no IP address found, is your VM running?\n' });

    vm = start(['run', 'vm'], { TART_STANDIN_GUEST_STOP_AFTER_MS: '300' });
    expect(await vm.exited).toMatchObject({ code: 0, stdout: 'guest has stopped the virtual machine\n' });
  });
});
