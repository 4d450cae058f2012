import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials, status } from '@grpc/grpc-js';
import { loadTartAgentProtocol, type TartExecResponse } from '@grove/proto';
import { Client } from 'ssh2';
import type { VmRunExit, VmRunOptions } from '../vm-runtime';
import { imageFaults, SyntheticRuntime } from './synthetic-runtime';

const RUN: VmRunOptions = {
  netSoftnet: false,
  netSoftnetAllow: [],
  netSoftnetBlock: [],
  netBridged: '',
  headless: true,
  nested: false,
  suspendable: false,
  hostDirs: [],
  credentials: { username: 'ci', password: 'secret' },
};

describe('synthetic runtime', () => {
  let dataDir: string;
  let runtime: SyntheticRuntime;
  const signal = new AbortController().signal;
  let serial = 0;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-syn-'));
    runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
  });

  afterEach(async () => {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Clones and runs a VM; returns its name and the run's promise. */
  async function boot(image = 'any'): Promise<{ name: string; exit: Promise<VmRunExit> }> {
    const name = `grove-vm${++serial}-00000000-0000-4000-8000-000000000000-0`;
    await runtime.clone(image, name, signal);
    const exit = runtime.run(name, RUN, signal);
    await waitUntil(async () => (await runtime.list()).some((vm) => vm.name === name && vm.running));
    return { name, exit };
  }

  async function ssh(name: string, command: string, login = { username: 'admin', password: 'admin' }, stdin?: string) {
    const client = new Client();
    const sock = await runtime.connect(name, 22, signal);
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject);
      client.connect({ sock, ...login, hostVerifier: () => true });
    });
    try {
      return await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
        client.exec(command, (err, channel) => {
          if (err) {
            reject(err);
            return;
          }
          let stdout = '';
          let stderr = '';
          let code: number | null = null;
          channel.on('data', (d: Buffer) => (stdout += d.toString()));
          channel.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          channel.on('exit', (c: number | null) => (code = c));
          channel.on('close', () => resolve({ stdout, stderr, code }));
          channel.end(stdin);
        });
      });
    } finally {
      client.end();
    }
  }

  it('runs commands over SSH in the VM’s scratch directory with exit codes and separate streams', async () => {
    const { name } = await boot();
    expect(await ssh(name, 'echo hi; echo err >&2; pwd')).toEqual({
      stdout: `hi\n${realpathSync(join(dataDir, 'vms', name, 'home'))}\n`,
      stderr: 'err\n',
      code: 0,
    });
    expect((await ssh(name, 'exit 3')).code).toBe(3);
    expect((await ssh(name, 'cat', undefined, 'piped\n')).stdout).toBe('piped\n');
    expect((await ssh(name, 'whoami >/dev/null; echo ok', { username: 'ci', password: 'secret' })).stdout).toBe('ok\n');
    await expect(ssh(name, 'true', { username: 'admin', password: 'wrong' })).rejects.toThrow(/authentication/i);
  });

  it('echoes a megabyte byte-exact on port 7', async () => {
    const { name } = await boot();
    const socket = await runtime.connect(name, 7, signal);
    const payload = Buffer.alloc(1024 * 1024, 'grove');
    const received: Buffer[] = [];
    let length = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        length += chunk.length;
        if (length >= payload.length) {
          resolve();
        }
      });
      socket.write(payload);
    });
    socket.destroy();
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    await expect(runtime.connect(name, 5900, signal)).rejects.toThrow(
      /serves only ports 22 \(SSH\) and 7 \(echo\), not 5900/,
    );
  });

  it('answers the Tart guest agent on its control socket', async () => {
    const { name } = await boot();
    const agent = new (loadTartAgentProtocol().Agent)(
      runtime.guestAgent(name).target,
      grpcCredentials.createInsecure(),
    );
    try {
      const ip = await new Promise<string>((resolve, reject) =>
        agent.ResolveIP({}, {}, (err, res) => (err ? reject(err) : resolve(res!.ip))),
      );
      expect(ip).toBe('127.0.0.1');
      const run = (command: Record<string, unknown>) =>
        new Promise<{ out: string; err: string; code?: number; error?: { code: number } }>((resolve) => {
          const call = agent.Exec();
          let out = '';
          let err = '';
          let code: number | undefined;
          call.on('data', (m: TartExecResponse) => {
            if (m.type === 'standard_output') out += m.standard_output.data.toString();
            if (m.type === 'standard_error') err += m.standard_error.data.toString();
            if (m.type === 'exit') code = m.exit.code;
          });
          call.on('error', (e: { code: number }) => resolve({ out, err, error: e }));
          call.on('end', () => resolve({ out, err, code }));
          call.write({ command });
        });
      expect(
        await run({ name: 'sh', args: ['-c', 'echo $GREETING; echo e >&2; exit 7'], env: { GREETING: 'hi' } }),
      ).toEqual({ out: 'hi\n', err: 'e\n', code: 7 });
      expect((await run({ name: 'pwd', workdir: '/tmp' })).out).toBe('/tmp\n');
      expect((await run({ name: 'no-such-command' })).error?.code).toBe(status.UNKNOWN);
    } finally {
      agent.close();
    }
  });

  it('ends runs on stop and suspend, remembers suspension, and deletes', async () => {
    const { name, exit } = await boot();
    expect(await runtime.ip(name, { bridged: false, waitSeconds: 1 }, signal)).toBe('127.0.0.1');
    await runtime.suspend(name);
    expect(await exit).toEqual({ code: 0 });
    expect(await runtime.isSuspended(name)).toBe(true);
    const again = runtime.run(name, RUN, signal);
    await waitUntil(async () => (await runtime.list()).some((vm) => vm.running));
    expect(await runtime.isSuspended(name)).toBe(false);
    await runtime.stop(name);
    expect(await again).toEqual({ code: 0 });
    await expect(runtime.ip(name, { bridged: false, waitSeconds: 1 }, signal)).rejects.toThrow(/not running/);
    await runtime.delete(name);
    await runtime.delete(name);
    expect(await runtime.list()).toEqual([]);
  });

  it('keeps clones across a new runtime on the same data dir, none of them running', async () => {
    const { name } = await boot();
    const later = new SyntheticRuntime({ dataDir });
    expect(await later.list()).toEqual([{ name, running: false }]);
    await expect(runtime.clone('any', name, signal)).rejects.toThrow(/already exists/);
  });

  it('fails the steps an image name asks for, and exits by itself after exit-after-N', async () => {
    expect(imageFaults('acme/fail-clone:exit-after-20')).toEqual({
      failPull: false,
      failClone: true,
      failRun: false,
      exitAfterMs: 20,
    });
    await expect(runtime.pull('x/fail-pull', signal)).rejects.toThrow(
      'synthetic runtime: pull of "x/fail-pull" failed (the image name asks for it)',
    );
    await expect(runtime.clone('x/fail-clone', 'grove-a', signal)).rejects.toThrow(/clone of "x\/fail-clone" failed/);
    await runtime.clone('x/fail-run', 'grove-b', signal);
    await expect(runtime.run('grove-b', RUN, signal)).rejects.toThrow(/run of "x\/fail-run" failed/);
    const { exit } = await boot('x/exit-after-30');
    expect(await exit).toEqual({ code: 1, error: expect.stringMatching(/exited after 30 ms/) });
  });
});

async function waitUntil(probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
