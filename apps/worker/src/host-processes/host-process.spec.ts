import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { alive, describeAt, echoProcess, ECHO_SCRIPT, readDescription } from '../test-support/host-process-helpers';
import { expandHostProcessArg, hostProcessBaseDir, ManagedHostProcess, type HostProcessContext } from './host-process';

describe('ManagedHostProcess', () => {
  let scratch: string;
  let logs: string[];
  const started: ManagedHostProcess[] = [];

  function context(overrides: Partial<HostProcessContext> = {}): HostProcessContext {
    return {
      workerName: 'mac-1',
      vmName: 'web',
      controlSocket: join(scratch, 'control.sock'),
      path: '/usr/local/bin:/usr/bin:/bin',
      log: (line) => logs.push(line),
      stopGraceMs: 200,
      ...overrides,
    };
  }

  function host(spec: Parameters<typeof echoProcess>, overrides: Partial<HostProcessContext> = {}) {
    const managed = new ManagedHostProcess(echoProcess(...spec), context(overrides));
    started.push(managed);
    return managed;
  }

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'grove-hp-test-'));
    logs = [];
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs the program in a private directory of its own with only the documented environment', async () => {
    process.env.GROVE_TEST_WORKER_SECRET = 'do-not-leak';
    try {
      const managed = new ManagedHostProcess(
        {
          name: 'proxy',
          program: process.execPath,
          args: [
            ECHO_SCRIPT,
            '--vm=${ORCHARD_VM_NAME}',
            '${GROVE_WORKER_NAME}',
            '${ORCHARD_PROCESS_SOCKET}',
            '${HOME}',
          ],
          env: { FROM_SPEC: 'yes', PATH: '/spoofed', ORCHARD_VM_NAME: 'spoofed' },
        },
        context(),
      );
      started.push(managed);
      await managed.start();
      expect(managed.ready).toBe(true);
      const dir = managed.dir!;
      expect(dir.startsWith(join(hostProcessBaseDir(), 'grove-hp-'))).toBe(true);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readlinkSync(join(dir, 'vm.sock'))).toBe(join(scratch, 'control.sock'));

      const described = await describeAt(managed.socketPath);
      expect(described.cwd).toBe(dir);
      const values = {
        WORKER_NAME: 'mac-1',
        VM_NAME: 'web',
        VM_CONTROL_SOCKET: join(dir, 'vm.sock'),
        PROCESS_SOCKET: join(dir, 'process.sock'),
      };
      expect(described.env).toEqual({
        FROM_SPEC: 'yes',
        PATH: '/usr/local/bin:/usr/bin:/bin',
        ...Object.fromEntries(Object.entries(values).map(([k, v]) => [`ORCHARD_${k}`, v])),
        ...Object.fromEntries(Object.entries(values).map(([k, v]) => [`GROVE_${k}`, v])),
      });
      expect(described.argv).toEqual(['--vm=web', 'mac-1', join(dir, 'process.sock'), '${HOME}']);

      await managed.stop();
      expect(existsSync(dir)).toBe(false);
    } finally {
      delete process.env.GROVE_TEST_WORKER_SECRET;
    }
  });

  it('expands only its own placeholders, in either spelling', () => {
    const env = { ORCHARD_VM_NAME: 'web', GROVE_VM_NAME: 'web', PATH: '/bin' };
    expect(expandHostProcessArg('${ORCHARD_VM_NAME}-${GROVE_VM_NAME}', env)).toBe('web-web');
    expect(expandHostProcessArg('${PATH} $ORCHARD_VM_NAME ${ORCHARD_OTHER}', env)).toBe(
      '${PATH} $ORCHARD_VM_NAME ${ORCHARD_OTHER}',
    );
  });

  it('logs its output lines with its name, cutting endless ones', async () => {
    const managed = host(['echo', '--say', `hello ${'x'.repeat(5000)}`]);
    await managed.start();
    await waitFor('both lines', () => logs.filter((l) => l.includes('hello')).length === 2);
    const stdout = logs.find((l) => l.startsWith('host process echo: hello'))!;
    expect(stdout.length).toBeLessThan(2100);
    expect(stdout.endsWith('…')).toBe(true);
    expect(logs.some((l) => l.startsWith('host process echo (stderr): hello'))).toBe(true);
  });

  it.each([
    ['exits at once', ['--exit', '3'], {}, 'exited with code 3'],
    ['never listens', ['--never-listen'], { readyTimeoutMs: 300 }, 'did not listen on its socket within 0.3 s'],
  ])('fails to start a program that %s and leaves nothing behind', async (_what, options, overrides, message) => {
    const managed = host(['echo', ...options], overrides);
    await expect(managed.start()).rejects.toThrow(message);
    expect(managed.ready).toBe(false);
    expect(existsSync(managed.dir!)).toBe(false);
  });

  it.each(['/nonexistent/grove-program', 'grove-no-such-program'])('reports a missing program %s', async (program) => {
    const managed = new ManagedHostProcess({ name: 'gone', program }, context());
    started.push(managed);
    await expect(managed.start()).rejects.toThrow(`program "${program}" was not found`);
    expect(existsSync(managed.dir!)).toBe(false);
  });

  it('stops its whole process group, also what ignores SIGTERM', async () => {
    const pidFile = join(scratch, 'grandchild.pid');
    const managed = host(['echo', '--ignore-term', '--grandchild', pidFile]);
    await managed.start();
    const leader = (await describeAt(managed.socketPath)).pid;
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(leader) && alive(grandchild)).toBe(true);
    await managed.stop();
    expect(alive(leader)).toBe(false);
    await waitFor('the grandchild to be gone', () => !alive(grandchild));
    expect(existsSync(managed.dir!)).toBe(false);
    await expect(managed.connect(new AbortController().signal)).rejects.toThrow('host process "echo" is not running');
  });

  it('tells its owner when it exits after it became ready, and kills what it left running', async () => {
    const pidFile = join(scratch, 'grandchild.pid');
    const managed = host(['echo', '--grandchild', pidFile]);
    const exits: string[] = [];
    managed.onExit = (reason) => exits.push(reason);
    await managed.start();
    const socket = await managed.connect(new AbortController().signal);
    await readDescription(socket);
    socket.end('exit 4\n');
    await waitFor('the exit', () => exits.length === 1);
    expect(exits).toEqual(['exited with code 4']);
    expect(managed.exited).toBe('exited with code 4');
    expect(logs).toContain('host process echo exited with code 4');
    await waitFor('the grandchild to be gone', () => !alive(Number(readFileSync(pidFile, 'utf8'))));
    expect(existsSync(managed.dir!)).toBe(false);
  });

  it('lets a connection wait while the program starts listening', async () => {
    const managed = host(['echo', '--listen-after', '300']);
    const starting = managed.start();
    await waitFor('the directory', () => managed.dir !== undefined);
    const socket = await managed.connect(new AbortController().signal);
    try {
      expect((await readDescription(socket)).argv).toEqual(['--listen-after', '300']);
    } finally {
      socket.destroy();
    }
    await starting;
  });
});
