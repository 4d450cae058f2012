import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { loadTartAgentProtocol } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { runOptions } from '../../test-support/run-options';
import { RuntimeError, type VmRunExit } from '../vm-runtime';
import { TART_NOT_FOUND } from './tart-process';
import { TartRuntime } from './tart-runtime';

// Drives TartRuntime against the stand-in `tart` (e2e/tart, tart.md §7), built by `npx tsc -b tsconfig.build.json`.
// Jest's per-project testTimeout is not applied (it is a global option), so this file sets its own.
jest.setTimeout(60_000);

const REPO_ROOT = join(__dirname, '..', '..', '..', '..', '..');
const TART = join(REPO_ROOT, 'e2e', 'tart', 'bin', 'tart');
const STAND_IN_MAIN = join(REPO_ROOT, 'e2e', 'dist', 'tart', 'main.js');

const MACOS = 'registry.grove.test/acme/macos:latest';
const LINUX = 'registry.grove.test/acme/ubuntu:24.04';
const MISSING = 'registry.grove.test/acme/missing:latest';
const FORBIDDEN = 'registry.grove.test/acme/private:latest';
const CATALOGUE = {
  images: {
    [MACOS]: { os: 'darwin', cpu: 4, memoryMiB: 8192, diskGB: 50, macAddress: '02:11:22:33:44:05' },
    [LINUX]: { os: 'linux', cpu: 2, memoryMiB: 2048, diskGB: 20 },
    [MISSING]: { failure: '404' },
    [FORBIDDEN]: { failure: '403' },
  },
};

let scratch: string;
let home: string;
let logs: string[];
/** Every run a test started, killed and awaited after it. */
let runs: { abort: AbortController; exit: Promise<VmRunExit> }[];

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
    TART_STANDIN_REGISTRY: JSON.stringify(CATALOGUE),
    TART_STANDIN_BOOT_DELAY_MS: '100',
    TART_STANDIN_IP_POLL_MS: '100',
    ...extra,
  };
}

function runtime(extra: Record<string, string> = {}): TartRuntime {
  return new TartRuntime({ tartBinary: TART, env: environment(extra), log: (line) => logs.push(line) });
}

/** A fresh Grove on-disk name. */
function groveName(name: string): string {
  return `grove-${name}-${randomUUID()}-0`;
}

const never = new AbortController().signal;

async function isRunning(tart: TartRuntime, name: string): Promise<boolean> {
  return (await tart.list()).find((vm) => vm.name === name)?.running === true;
}

/** Starts `run` in the background; with `waitRunning`, returns once `list` reports the VM running. */
async function startRun(tart: TartRuntime, name: string, options = runOptions(), waitRunning = true) {
  const abort = new AbortController();
  const exit = tart.run(name, options, abort.signal);
  const run = { abort, exit };
  runs.push(run);
  if (waitRunning) {
    await Promise.race([
      waitFor(`${name} to run`, () => isRunning(tart, name)),
      exit.then((result) => Promise.reject(new Error(`run ended early: ${JSON.stringify(result)}`))),
    ]);
  }
  return run;
}

interface VmConfig {
  macAddress: string;
  ecid?: string;
  cpuCount: number;
  memorySize: number;
}

function readConfig(vmDir: string): VmConfig {
  return JSON.parse(readFileSync(join(vmDir, 'config.json'), 'utf8')) as VmConfig;
}

/** The PID `tart run` recorded in the stand-in's run lock (its stand-in for the fcntl lock). */
function runPid(name: string): number {
  return (JSON.parse(readFileSync(join(home, 'vms', name, '.tart-run.lock'), 'utf8')) as { pid: number }).pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A file of /proc/<pid>, or undefined when the process is gone or not ours to read. */
function procFile(pid: string, file: 'cmdline' | 'environ'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Live `tart` processes of the current test, found through /proc (the stand-in is a Linux tool): every one has the
 * test's TART_HOME in its environment. With `argv`, only those whose argv has these elements in a row.
 */
function tartProcesses(...argv: string[]): number[] {
  const ownHome = `TART_HOME=${home}\0`;
  const args = `\0${argv.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && Number(pid) !== process.pid)
    .filter((pid) => procFile(pid, 'environ')?.includes(ownHome))
    .filter((pid) => argv.length === 0 || procFile(pid, 'cmdline')?.includes(args))
    .map(Number);
}

function resolveIpOverAgent(target: string): Promise<string> {
  const { Agent } = loadTartAgentProtocol();
  const client = new Agent(target, credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.ResolveIP({}, { deadline: Date.now() + 1_000 }, (error, response) =>
      error ? reject(error) : resolve(response?.ip ?? ''),
    );
  }).finally(() => client.close());
}

beforeAll(() => {
  if (!existsSync(STAND_IN_MAIN)) {
    throw new Error(`${STAND_IN_MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
});

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'grove-tart-runtime-'));
  home = join(scratch, 'tart-home');
  logs = [];
  runs = [];
});

afterEach(async () => {
  for (const run of runs) {
    run.abort.abort();
  }
  await Promise.all(runs.map((run) => run.exit.catch(() => undefined)));
  try {
    // Every command has been awaited, so a `tart` process still alive now was leaked (an orphaned run, a lost child).
    expect(tartProcesses()).toEqual([]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

describe('TartRuntime against the stand-in tart', () => {
  it('starts: checks tart --version and logs it', async () => {
    await runtime({ TART_STANDIN_VERSION: '2.34.1' }).start();
    expect(logs).toContain('using tart 2.34.1');
    expect(runtime().kind).toBe('tart');
    expect(runtime().reportedRuntime).toBe('tart');
  });

  it('drives a VM through Orchard’s sequence: pull, clone, fqn, configure, run, ip, stop, run, suspend, resume, delete', async () => {
    const tart = runtime();
    const name = groveName('lifecycle');
    const vmDir = join(home, 'vms', name);

    await tart.pull(MACOS, never);
    await tart.clone(MACOS, name, never);
    expect(await tart.fqn(MACOS, never)).toMatch(/^registry\.grove\.test\/acme\/macos@sha256:[0-9a-f]{64}$/);
    expect(await tart.fqn(name, never)).toBe(name); // a local name is echoed
    expect(await tart.fqn('registry.grove.test/acme/never-pulled:latest', never)).toBeUndefined();
    expect(await tart.isSuspended(name, never)).toBe(false);

    const before = readConfig(vmDir);
    await tart.configure(name, { cpu: 6, memory: 16_384, diskSize: 80, randomSerial: true }, never);
    const after = readConfig(vmDir);
    expect(after.cpuCount).toBe(6);
    expect(after.memorySize).toBe(16_384 * 1024 * 1024);
    expect(after.macAddress).not.toBe(before.macAddress);
    expect(after.ecid).not.toBe(before.ecid);
    expect(statSync(join(vmDir, 'disk.img')).size).toBe(80 * 1e9);

    // Run, find the VM by IP and through its guest agent, stop it.
    const first = await startRun(tart, name);
    const ip = await tart.ip(name, { bridged: false, waitSeconds: 10 }, never);
    expect(ip).toMatch(/^192\.168\.64\.\d+$/);
    const target = tart.guestAgent(name).target;
    // This test's TART_HOME makes the socket's path too long to dial, so the target is a short link to it.
    expect(target).toMatch(/^unix:\/\//);
    expect(readlinkSync(target.slice('unix://'.length))).toBe(join(vmDir, 'control.sock'));
    expect(await waitFor('the guest agent to answer', () => resolveIpOverAgent(target).catch(() => undefined))).toBe(
      ip,
    );
    await tart.stop(name, 5);
    expect(await first.exit).toEqual({ code: 0 });
    expect(await isRunning(tart, name)).toBe(false);

    // Run again (as after a spec change, without `tart set`), suspendable this time, and suspend it.
    const second = await startRun(tart, name, runOptions({ suspendable: true }));
    await tart.suspend(name);
    expect(await second.exit).toEqual({ code: 0 });
    expect(await tart.isSuspended(name, never)).toBe(true);
    expect(existsSync(join(vmDir, 'state.vzvmsave'))).toBe(true);

    // A run resumes the saved state, which is then gone.
    const third = await startRun(tart, name, runOptions({ suspendable: true }));
    expect(await tart.isSuspended(name, never)).toBe(false);
    expect(existsSync(join(vmDir, 'state.vzvmsave'))).toBe(false);
    await tart.stop(name, 5);
    expect(await third.exit).toEqual({ code: 0 });

    await tart.delete(name);
    expect((await tart.list()).map((vm) => vm.name)).not.toContain(name);
    expect(existsSync(vmDir)).toBe(false);
    expect(existsSync(target.slice('unix://'.length))).toBe(false);
    // Only the fqn of the image that was never pulled failed (and was logged, as Orchard warns about every failure).
    expect(logs).toEqual([
      expect.stringMatching(
        /^tart fqn registry\.grove\.test\/acme\/never-pulled:latest: tart command failed: "OCI storage error: /,
      ),
    ]);
  });

  it('fails configure with Tart’s message when a setting is below the image’s minimum', async () => {
    const tart = runtime();
    const name = groveName('minimum');
    await tart.clone(MACOS, name, never);
    const error = await tart
      .configure(name, { cpu: 1, memory: 0, diskSize: 0, randomSerial: false }, never)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RuntimeError);
    expect(error).toMatchObject({ exitCode: 1, message: expect.stringMatching(/^tart command failed: ".*CPU/) });
    expect(logs).toEqual([`tart set --cpu 1 ${name}: ${(error as Error).message}`]);
  });

  it('connects over TCP to the VM’s IP; on a stale lease of a stopped VM, ip answers and connect fails clearly', async () => {
    // The stand-in leases 127.0.0.1 so that the VM's "port" is a server of this test.
    const tart = runtime({ TART_STANDIN_FORCE_IP: '127.0.0.1' });
    const name = groveName('connect');
    await tart.clone(LINUX, name, never);
    const run = await startRun(tart, name);
    const server: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const socket: Socket = await tart.connect(name, port, never);
      const echoed = new Promise<string>((resolve) => socket.once('data', (data) => resolve(data.toString())));
      socket.write('ping');
      expect(await echoed).toBe('ping');
      socket.destroy();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    // tart.md §6 (tart#172): the DHCP resolver still answers for a stopped VM; only a connection tells the truth.
    await tart.stop(name, 5);
    expect(await run.exit).toEqual({ code: 0 });
    expect(await tart.ip(name, { bridged: false, waitSeconds: 0 }, never)).toBe('127.0.0.1');
    const refused = await tart.connect(name, port, never).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RuntimeError);
    expect((refused as Error).message).toMatch(
      new RegExp(`^failed to connect to ${name} at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it('fails ip with Tart’s message when the VM has no address, and stops waiting for one when cancelled', async () => {
    const tart = runtime({ TART_STANDIN_NO_IP: '1' });
    const name = groveName('no-ip');
    await tart.clone(LINUX, name, never);
    await expect(tart.ip(name, { bridged: false, waitSeconds: 0 }, never)).rejects.toMatchObject({
      message: 'tart command failed: "no IP address found, is your VM running?"',
      exitCode: 1,
    });
    await startRun(tart, name);
    const abort = new AbortController();
    const connecting = tart.connect(name, 22, abort.signal);
    await waitFor('tart ip to wait', () => tartProcesses('ip', '--wait').length > 0);
    abort.abort();
    await expect(connecting).rejects.toEqual(new RuntimeError('tart ip was cancelled'));
  });

  it('resolves a bridged VM’s IP through the guest agent', async () => {
    const tart = runtime();
    const name = groveName('bridged');
    await tart.clone(LINUX, name, never);
    await startRun(tart, name, runOptions({ netBridged: 'en0' }));
    expect(await tart.ip(name, { bridged: true, waitSeconds: 10 }, never)).toMatch(/^192\.168\.1\.\d+$/);
  });

  it('surfaces registry failures of pull and clone as Tart’s first error line', async () => {
    const tart = runtime();
    const name = groveName('missing');
    const missing = await tart.clone(MISSING, name, never).catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(RuntimeError);
    expect(missing).toMatchObject({ exitCode: 1 });
    expect((missing as Error).message).toMatch(
      /^tart command failed: "Error: UnexpectedHTTPStatusCode\(when: "pulling manifest", code: 404, /,
    );
    await expect(tart.pull(FORBIDDEN, never)).rejects.toThrow(
      /^tart command failed: "Error: AuthFailed\(why: "received unexpected HTTP status code 403 /,
    );
    await expect(tart.clone('no-such-local-vm', name, never)).rejects.toMatchObject({
      message: 'tart command failed: "the specified VM "no-such-local-vm" does not exist"',
      exitCode: 2,
    });
    expect((await tart.list()).map((vm) => vm.name)).not.toContain(name);
  });

  it('reports a run whose lock is held with exit 2 and Tart’s message, leaving the first run alone', async () => {
    const tart = runtime();
    const name = groveName('locked');
    await tart.clone(LINUX, name, never);
    const first = await startRun(tart, name);
    const second = await tart.run(name, runOptions(), never);
    expect(second).toEqual({ code: 2, error: `tart command failed: "VM "${name}" is already running!"` });
    expect(await isRunning(tart, name)).toBe(true);
    first.abort.abort();
    expect(await first.exit).toEqual({ code: null });
  });

  it('reports the third concurrent macOS run, and every run under a stuck limit, with the system-limit message', async () => {
    const tart = runtime();
    const [a, b, c] = [groveName('mac-a'), groveName('mac-b'), groveName('mac-c')];
    await tart.clone(MACOS, a, never);
    await tart.clone(a, b, never);
    await tart.clone(a, c, never);
    await Promise.all([startRun(tart, a), startRun(tart, b)]);
    const third = await tart.run(c, runOptions(), never);
    expect(third.code).toBe(1);
    expect(third.error).toMatch(
      /^tart command failed: "The number of VMs exceeds the system limit \(other running VMs: grove-mac-[ab]-.*, grove-mac-[ab]-.*\)"$/,
    );
    // Linux guests do not count (tart.md §2).
    const linux = groveName('linux');
    await tart.clone(LINUX, linux, never);
    await startRun(tart, linux);

    // The framework's count stuck after many start/stop cycles (tart#1217): even a first VM fails.
    expect(await runtime({ TART_STANDIN_VM_LIMIT: '0' }).run(c, runOptions(), never)).toEqual({
      code: 1,
      error:
        'tart command failed: "The number of VMs exceeds the system limit (other running VMs: ' +
        `${[a, b].sort().join(', ')})"`,
    });
  });

  it('resolves runs that end on their own with their exit code and Tart’s line, from stderr or else stdout', async () => {
    const name = groveName('ends');
    await runtime().clone(MACOS, name, never);
    expect(await runtime({ TART_STANDIN_START_FAILURE: '1' }).run(name, runOptions(), never)).toEqual({
      code: 1,
      error:
        'tart command failed: "Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start." UserInfo={NSLocalizedFailure=The virtual machine failed to start.}"',
    });
    // A guest shutdown is a clean exit; telling it from a requested stop is the caller's job.
    expect(await runtime({ TART_STANDIN_GUEST_STOP_AFTER_MS: '300' }).run(name, runOptions(), never)).toEqual({
      code: 0,
    });
    // Tart prints a failed suspend to stdout.
    const tart = runtime();
    const run = await startRun(tart, name);
    await tart.suspend(name);
    expect(await run.exit).toEqual({
      code: 1,
      error:
        'tart command failed: "Failed to suspend the VM: The virtual machine configuration does not support saving and restoring its state."',
    });
    // `run` opens the VM while validating its arguments, hence exit 1 and the `Error:` prefix (tart.md §1.1).
    const missing = groveName('missing');
    expect(await tart.run(missing, runOptions(), never)).toEqual({
      code: 1,
      error: `tart command failed: "Error: the specified VM "${missing}" does not exist"`,
    });
  });

  it('treats stopping a VM that is not running and deleting a missing VM as done, logging Tart’s line', async () => {
    const tart = runtime();
    const name = groveName('idle');
    const gone = groveName('never-existed');
    await tart.clone(LINUX, name, never);
    await expect(tart.stop(name, 5)).resolves.toBeUndefined();
    await expect(tart.stop(gone, 5)).resolves.toBeUndefined();
    await expect(tart.delete(gone)).resolves.toBeUndefined();
    expect(logs).toEqual([
      `tart stop --timeout 5 ${name}: exit 2, taken as done: tart command failed: "VM "${name}" is not running"`,
      `tart stop --timeout 5 ${gone}: exit 2, taken as done: tart command failed: "the specified VM "${gone}" does not exist"`,
      `tart delete ${gone}: exit 2, taken as done: tart command failed: "the specified VM "${gone}" does not exist"`,
    ]);
    // Suspending is no such no-op: the caller asked to keep a state that no run can save.
    await expect(tart.suspend(name)).rejects.toMatchObject({
      message: `tart command failed: "VM "VM "${name}" is not running" is not running"`,
      exitCode: 2,
    });
  });

  it('refuses to delete a running VM with Tart’s message', async () => {
    const tart = runtime();
    const name = groveName('busy');
    await tart.clone(LINUX, name, never);
    await startRun(tart, name);
    await expect(tart.delete(name)).rejects.toMatchObject({
      message: `tart command failed: "VM "${name}" is running"`,
      exitCode: 1,
    });
  });

  it('reports a missing tart binary clearly, from start() and from every command', async () => {
    const byName = new TartRuntime({ env: { ...environment(), PATH: join(scratch, 'empty-bin') } });
    await expect(byName.start()).rejects.toEqual(new RuntimeError(TART_NOT_FOUND));
    await expect(byName.clone(MACOS, groveName('x'), never)).rejects.toThrow(TART_NOT_FOUND);
    await expect(byName.run(groveName('x'), runOptions(), never)).rejects.toThrow(TART_NOT_FOUND);
    await expect(byName.fqn(MACOS, never)).resolves.toBeUndefined();
    const byPath = new TartRuntime({ tartBinary: join(scratch, 'no-tart'), env: environment() });
    await expect(byPath.list()).rejects.toThrow(TART_NOT_FOUND);
    await expect(byPath.stop('vm', 5)).rejects.toThrow(TART_NOT_FOUND);
  });

  it('passes audio, clipboard, USB accessories and exposed ports to tart run (orchard-2026.md §1.2.7–1.2.9)', async () => {
    const tart = runtime();
    const name = groveName('flags');
    await tart.clone(LINUX, name, never);
    const run = await startRun(
      tart,
      name,
      runOptions({ audio: true, usbAccessories: false, netSoftnet: true, netSoftnetExpose: ['2222:22', '8080:80'] }),
    );
    // What the stand-in accepted (e2e/tart/README.md, "Recorded runs").
    const recorded = readFileSync(join(home, 'standin', 'runs.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { vm: string; options: Record<string, string[]> })
      .find((entry) => entry.vm === name);
    expect(recorded?.options).toEqual({
      'no-graphics': [''],
      'no-clipboard': [''],
      'no-usb-accessories': [''],
      'net-softnet': [''],
      'net-softnet-expose': ['2222:22,8080:80'],
    });
    run.abort.abort();
    await run.exit;
  });

  it('kills an aborted run with SIGKILL and leaves no process behind', async () => {
    const tart = runtime();
    const name = groveName('aborted');
    await tart.clone(LINUX, name, never);
    const run = await startRun(tart, name);
    const pid = runPid(name);
    expect(alive(pid)).toBe(true);
    // The one process is `tart run` itself (audio and clipboard are off by default, orchard-2026.md §1.2.7).
    expect(tartProcesses('run', '--no-graphics', '--no-audio', '--no-clipboard', name)).toEqual([pid]);
    run.abort.abort();
    expect(await run.exit).toEqual({ code: null });
    expect(alive(pid)).toBe(false);
    expect(tartProcesses(name)).toEqual([]);
    expect(await isRunning(tart, name)).toBe(false);
    // Like Tart after a SIGKILL, the stand-in leaves control.sock behind; the next run binds it afresh.
    const again = await startRun(tart, name);
    again.abort.abort();
    expect(await again.exit).toEqual({ code: null });
    // An abort before the run began spawns nothing.
    const aborted = new AbortController();
    aborted.abort();
    expect(await tart.run(name, runOptions(), aborted.signal)).toEqual({ code: null });
  });

  it('lists every VM on disk, Grove’s and others’, with their running state, but no cached images', async () => {
    const tart = runtime();
    const grove = groveName('listed');
    await tart.clone(LINUX, grove, never);
    await tart.clone(LINUX, 'someone-elses-vm', never);
    await startRun(tart, grove);
    expect((await tart.list()).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: grove, running: true },
      { name: 'someone-elses-vm', running: false },
    ]);
  });
});
