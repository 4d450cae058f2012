import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { loadTartAgentProtocol } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { RuntimeError, type VmRunExit, type VmRunOptions } from '../vm-runtime';
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

function runOptions(overrides: Partial<VmRunOptions> = {}): VmRunOptions {
  return {
    netSoftnet: false,
    netSoftnetAllow: [],
    netSoftnetBlock: [],
    netBridged: '',
    headless: true,
    nested: false,
    suspendable: false,
    hostDirs: [],
    credentials: { username: 'admin', password: 'admin' },
    ...overrides,
  };
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

/** PIDs of live processes whose command line mentions `text` (Linux /proc; empty elsewhere). */
function processesMentioning(text: string): number[] {
  if (!existsSync('/proc')) {
    return [];
  }
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
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
  rmSync(scratch, { recursive: true, force: true });
});

describe('TartRuntime against the stand-in tart', () => {
  it('starts: checks tart --version and logs it', async () => {
    await runtime({ TART_STANDIN_VERSION: '2.34.1' }).start();
    expect(logs).toContain('using tart 2.34.1');
    expect(runtime().kind).toBe('tart');
    expect(runtime().reportedRuntime).toBe('tart');
  });

  it('pulls, clones, resolves the fqn and configures a VM in tart.md §3.3 order', async () => {
    const tart = runtime();
    const name = groveName('configure');
    await tart.pull(MACOS, never);
    await tart.clone(MACOS, name, never);
    expect(await tart.fqn(MACOS, never)).toMatch(/^registry\.grove\.test\/acme\/macos@sha256:[0-9a-f]{64}$/);
    expect(await tart.fqn(name, never)).toBe(name); // a local name is echoed
    expect(await tart.fqn('registry.grove.test/acme/never-pulled:latest', never)).toBeUndefined();
    expect(await tart.isSuspended(name, never)).toBe(false);
    expect(await tart.isSuspended('no-such-vm', never)).toBe(false);

    const configPath = join(home, 'vms', name, 'config.json');
    const before = JSON.parse(readFileSync(configPath, 'utf8')) as { macAddress: string; ecid?: string };
    await tart.configure(name, { cpu: 6, memory: 16_384, diskSize: 80, randomSerial: true }, never);
    const after = JSON.parse(readFileSync(configPath, 'utf8')) as {
      macAddress: string;
      ecid?: string;
      cpuCount: number;
      memorySize: number;
    };
    expect(after.cpuCount).toBe(6);
    expect(after.memorySize).toBe(16_384 * 1024 * 1024);
    expect(after.macAddress).not.toBe(before.macAddress);
    expect(after.ecid).not.toBe(before.ecid);
    expect(statSync(join(home, 'vms', name, 'disk.img')).size).toBe(80 * 1e9);

    // Below the image's minimum: Tart's message becomes the error.
    await expect(tart.configure(name, { cpu: 1, memory: 0, diskSize: 0, randomSerial: false }, never)).rejects.toThrow(
      /^tart command failed: ".*CPU/,
    );
  });

  it('runs, resolves the IP, serves the guest agent, stops, runs again, suspends and deletes', async () => {
    const tart = runtime();
    const name = groveName('lifecycle');
    await tart.clone(MACOS, name, never);
    const first = await startRun(tart, name);

    const ip = await tart.ip(name, { bridged: false, waitSeconds: 10 }, never);
    expect(ip).toMatch(/^192\.168\.64\.\d+$/);
    const target = tart.guestAgent(name).target;
    // This test's TART_HOME makes the socket's path too long to dial, so the target is a short link to it.
    expect(target).toMatch(/^unix:\/\//);
    expect(readlinkSync(target.slice('unix://'.length))).toBe(join(home, 'vms', name, 'control.sock'));
    expect(await waitFor('the guest agent to answer', () => resolveIpOverAgent(target).catch(() => undefined))).toBe(
      ip,
    );

    await tart.stop(name, 5);
    expect(await first.exit).toEqual({ code: 0 });
    expect(await isRunning(tart, name)).toBe(false);

    const second = await startRun(tart, name, runOptions({ suspendable: true }));
    await tart.suspend(name);
    expect(await second.exit).toEqual({ code: 0 });
    expect(await tart.isSuspended(name, never)).toBe(true);

    await tart.delete(name);
    expect((await tart.list()).map((vm) => vm.name)).not.toContain(name);
    expect(existsSync(target.slice('unix://'.length))).toBe(false);
  });

  it('connects to a port of the VM over TCP at its IP, and says why when it cannot', async () => {
    // The stand-in leases 127.0.0.1 so that the VM's "port" is a server of this test.
    const tart = runtime({ TART_STANDIN_FORCE_IP: '127.0.0.1' });
    const name = groveName('connect');
    await tart.clone(LINUX, name, never);
    await startRun(tart, name);
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
    const refused = await tart.connect(name, port, never).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RuntimeError);
    expect((refused as Error).message).toMatch(
      new RegExp(`^failed to connect to ${name} at 127\\.0\\.0\\.1:${port}: `),
    );
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

  it('reports the third concurrent macOS run as a failed run with the system-limit message', async () => {
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
  });

  it('treats stopping a VM that is not running and deleting a missing VM as done; suspend reports them', async () => {
    const tart = runtime();
    const name = groveName('idle');
    await tart.clone(LINUX, name, never);
    await expect(tart.stop(name, 5)).resolves.toBeUndefined();
    await expect(tart.delete(groveName('never-existed'))).resolves.toBeUndefined();
    await expect(tart.suspend(name)).rejects.toMatchObject({
      message: `tart command failed: "VM "VM "${name}" is not running" is not running"`,
      exitCode: 2,
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
  });

  it('kills an aborted run with SIGKILL and leaves no process behind', async () => {
    const tart = runtime();
    const name = groveName('aborted');
    await tart.clone(LINUX, name, never);
    const run = await startRun(tart, name);
    const pid = runPid(name);
    expect(alive(pid)).toBe(true);
    run.abort.abort();
    expect(await run.exit).toEqual({ code: null });
    expect(alive(pid)).toBe(false);
    expect(processesMentioning(name)).toEqual([]);
    expect(await isRunning(tart, name)).toBe(false);
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
