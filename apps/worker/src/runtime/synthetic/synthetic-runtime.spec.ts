import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials as grpcCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { loadTartAgentProtocol, type TartAgentClient, type TartExecResponse } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { Client, type ClientChannel, type PseudoTtyOptions } from 'ssh2';
import { runOptions } from '../../test-support/run-options';
import type { VmRunExit } from '../vm-runtime';
import { SyntheticRuntime, type SyntheticRuntimeOptions } from './synthetic-runtime';

const RUN = runOptions({ suspendable: true, credentials: { username: 'ci', password: 'secret' } });
const ADMIN = { username: 'admin', password: 'admin' };
const IP_OPTIONS = { bridged: false, waitSeconds: 0 };

interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal?: string;
}

describe('SyntheticRuntime', () => {
  const signal = new AbortController().signal;
  const dirs: string[] = [];
  const runtimes: SyntheticRuntime[] = [];
  const clients: Client[] = [];
  const dataDirs = new Map<SyntheticRuntime, string>();
  let serial = 0;

  function tempDir(prefix = 'grove-syn-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  }

  async function newRuntime(options: Partial<SyntheticRuntimeOptions> = {}): Promise<SyntheticRuntime> {
    const dataDir = options.dataDir ?? tempDir();
    const runtime = new SyntheticRuntime({ ...options, dataDir });
    runtimes.push(runtime);
    dataDirs.set(runtime, dataDir);
    await runtime.start();
    return runtime;
  }

  function vmName(): string {
    return `grove-vm${++serial}-0b5e0d1c-2f4e-4c1a-9d6e-7a8b9c0d1e2f-0`;
  }

  /** Clones and runs a VM, and waits until it serves. */
  async function boot(runtime: SyntheticRuntime, image = 'any'): Promise<{ name: string; exit: Promise<VmRunExit> }> {
    const name = vmName();
    await runtime.clone(image, name, signal);
    const exit = runtime.run(name, RUN, signal);
    await waitFor(`${name} to boot`, () => runtime.ip(name, IP_OPTIONS, signal).catch(() => undefined));
    return { name, exit };
  }

  async function sshClient(runtime: SyntheticRuntime, name: string, login = ADMIN): Promise<Client> {
    const client = new Client();
    clients.push(client);
    // Errors after the handshake (the VM stopping under a connection) are not what these tests look at.
    client.on('error', () => undefined);
    const sock = await runtime.connect(name, 22, signal);
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject);
      client.connect({ sock, ...login, hostVerifier: () => true });
    });
    return client;
  }

  function collect(channel: ClientChannel, stdin: string | undefined): Promise<CommandResult> {
    return new Promise((resolve) => {
      const result: CommandResult = { stdout: '', stderr: '', code: null };
      channel.on('data', (d: Buffer) => (result.stdout += d.toString()));
      channel.stderr.on('data', (d: Buffer) => (result.stderr += d.toString()));
      channel.on('exit', (code: number | null, exitSignal?: string) => {
        result.code = code;
        if (exitSignal) {
          result.signal = exitSignal;
        }
      });
      channel.on('close', () => resolve(result));
      if (stdin !== undefined) {
        channel.end(stdin);
      }
    });
  }

  function exec(
    client: Client,
    command: string,
    options: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<CommandResult> {
    return new Promise((resolve, reject) =>
      client.exec(command, { env: options.env }, (err, channel) =>
        err ? reject(err) : resolve(collect(channel, options.stdin ?? '')),
      ),
    );
  }

  function open(client: Client, command: string, pty: PseudoTtyOptions): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      client.exec(command, { pty }, (err, channel) => (err ? reject(err) : resolve(channel))),
    );
  }

  afterEach(async () => {
    clients.splice(0).forEach((client) => client.end());
    await Promise.all(runtimes.splice(0).map((runtime) => runtime.close()));
    dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true }));
  });

  describe('SSH on VM port 22', () => {
    let runtime: SyntheticRuntime;
    let name: string;
    let client: Client;

    beforeEach(async () => {
      runtime = await newRuntime();
      ({ name } = await boot(runtime));
      client = await sshClient(runtime, name);
    });

    it('runs a command and reports its exit status', async () => {
      expect(await exec(client, 'echo hi')).toEqual({ stdout: 'hi\n', stderr: '', code: 0 });
      expect(await exec(client, 'exit 3')).toEqual({ stdout: '', stderr: '', code: 3 });
    });

    it('keeps stderr apart from stdout', async () => {
      expect(await exec(client, 'echo out; echo err >&2; echo out2')).toEqual({
        stdout: 'out\nout2\n',
        stderr: 'err\n',
        code: 0,
      });
    });

    it('forwards stdin up to its EOF', async () => {
      expect(await exec(client, 'cat; echo done', { stdin: 'line 1\nline 2\n' })).toMatchObject({
        stdout: 'line 1\nline 2\ndone\n',
        code: 0,
      });
    });

    it('sends all of a large output before the exit status', async () => {
      const result = await exec(client, 'head -c 3000000 /dev/zero | tr "\\0" x');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('x'.repeat(3_000_000));
    });

    it('runs in the scratch directory, which is also HOME, with env requests applied', async () => {
      const home = realpathSync(join(dataDirs.get(runtime)!, 'vms', name, 'home'));
      expect(
        await exec(client, 'pwd; echo "$HOME"; echo "$GREETING"; echo "$USER"', { env: { GREETING: 'hello' } }),
      ).toEqual({ stdout: `${home}\n${home}\nhello\nadmin\n`, stderr: '', code: 0 });
    });

    it('feeds a shell over stdin and reports the status `exit` leaves', async () => {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell(false, (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      const result = await collect(channel, 'set -e\necho a\nfalse\necho b\nexit\n');
      expect(result.stdout).toBe('a\n');
      expect(result.code).not.toBe(0);
      expect(result.code).not.toBeNull();
    });

    it('reports a command killed by a signal as exit-signal', async () => {
      expect(await exec(client, 'kill -TERM $$')).toEqual({ stdout: '', stderr: '', code: null, signal: 'SIGTERM' });
    });

    it('kills the command when the client closes the channel early', async () => {
      const plain = await new Promise<ClientChannel>((resolve, reject) =>
        client.exec('echo $$; exec sleep 30', (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      let output = '';
      plain.on('data', (d: Buffer) => (output += d.toString()));
      const pid = Number(await waitFor('the pid', () => /^(\d+)\n/.exec(output)?.[1]));
      expect(isAlive(pid)).toBe(true);
      plain.close();
      await waitFor('the command to be killed', () => !isAlive(pid));
    });

    it('gives a command a PTY of the requested size and follows window changes', async () => {
      const channel = await open(
        client,
        'test -t 0 && echo tty; stty size; while [ "$(stty size)" = "30 100" ]; do sleep 0.01; done; stty size',
        { rows: 30, cols: 100, term: 'vt100' },
      );
      let output = '';
      channel.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number>((resolve) => channel.on('exit', (code: number) => resolve(code)));
      await waitFor('the initial size', () => output.includes('30 100'));
      expect(output).toMatch(/^tty\r?\n30 100\r?\n/);
      channel.setWindow(40, 120, 0, 0);
      await waitFor('the new size', () => output.includes('40 120'));
      expect(await exited).toBe(0);
    });

    it('runs an interactive shell on a PTY', async () => {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell({ rows: 24, cols: 80 }, (err, ch) => (err ? reject(err) : resolve(ch))),
      );
      const result = collect(channel, undefined);
      channel.write('test -t 0 && echo "on a tty: $((6 * 7))"\n');
      channel.write('exit 5\n');
      expect(await result).toMatchObject({ code: 5, stdout: expect.stringContaining('on a tty: 42') });
    });

    it('accepts admin/admin and the VM’s credentials, and nothing else', async () => {
      const vmLogin = await sshClient(runtime, name, RUN.credentials);
      expect((await exec(vmLogin, 'echo "$USER"')).stdout).toBe('ci\n');
      await expect(sshClient(runtime, name, { username: 'admin', password: 'wrong' })).rejects.toThrow(
        /authentication/i,
      );
      await expect(sshClient(runtime, name, { username: 'ci', password: 'admin' })).rejects.toThrow(/authentication/i);
    });
  });

  describe('echo on VM port 7', () => {
    it('echoes a mebibyte byte-exact', async () => {
      const runtime = await newRuntime();
      const { name } = await boot(runtime);
      const socket = await runtime.connect(name, 7, signal);
      expect(socket.remoteAddress).toBe('127.0.0.1');
      const payload = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < payload.length; i++) {
        payload[i] = (i * 7919) % 251;
      }
      const received: Buffer[] = [];
      let length = 0;
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        length += chunk.length;
      });
      socket.write(payload);
      await waitFor('the echo', () => length >= payload.length);
      socket.destroy();
      expect(Buffer.concat(received).equals(payload)).toBe(true);
    });

    it('refuses other ports, and VMs that do not run', async () => {
      const runtime = await newRuntime();
      const { name } = await boot(runtime);
      await expect(runtime.connect(name, 5901, signal)).rejects.toThrow(
        `port 5901 of the synthetic VM "${name}" is closed: it serves 22 (SSH), 7 (echo), 80 (HTTP) and 5900 (VNC)`,
      );
      await runtime.stop(name, 30);
      await expect(runtime.connect(name, 22, signal)).rejects.toThrow(/not running/);
    });
  });

  describe('UDP echo on VM port 7', () => {
    it('sends every datagram back to its sender', async () => {
      const runtime = await newRuntime();
      const { name } = await boot(runtime);
      const target = await runtime.udpTarget(name, 7, signal);
      expect(target.host).toBe('127.0.0.1');
      const client = createSocket('udp4');
      const replies: string[] = [];
      client.on('message', (message) => replies.push(message.toString()));
      try {
        client.send('one', target.port, target.host);
        client.send('two', target.port, target.host);
        await waitFor('the echoes', () => replies.length >= 2);
        expect(replies.sort()).toEqual(['one', 'two']);
      } finally {
        client.close();
      }
    });

    it('refuses other ports, and VMs that do not run', async () => {
      const runtime = await newRuntime();
      const { name } = await boot(runtime);
      await expect(runtime.udpTarget(name, 53, signal)).rejects.toThrow(
        `the synthetic VM "${name}" serves only UDP port 7 (echo), not 53`,
      );
      await runtime.stop(name, 30);
      await expect(runtime.udpTarget(name, 7, signal)).rejects.toThrow(/not running/);
    });
  });

  describe('guest agent', () => {
    let runtime: SyntheticRuntime;
    let name: string;
    let agent: TartAgentClient;

    beforeEach(async () => {
      runtime = await newRuntime();
      ({ name } = await boot(runtime));
      agent = new (loadTartAgentProtocol().Agent)(runtime.guestAgent(name).target, grpcCredentials.createInsecure());
    });

    afterEach(() => agent.close());

    function agentExec(
      command: Record<string, unknown>,
      stdin: Buffer[] = [],
    ): Promise<{ out: string; err: string; exits: number[]; error?: ServiceError }> {
      return new Promise((resolve) => {
        const call = agent.Exec();
        let out = '';
        let err = '';
        const exits: number[] = [];
        call.on('data', (m: TartExecResponse) => {
          if (m.type === 'standard_output') out += m.standard_output.data.toString();
          if (m.type === 'standard_error') err += m.standard_error.data.toString();
          if (m.type === 'exit') exits.push(m.exit.code);
        });
        call.on('error', (error: ServiceError) => resolve({ out, err, exits, error }));
        call.on('end', () => resolve({ out, err, exits }));
        call.write({ command });
        stdin.forEach((data) => call.write({ standard_input: { data } }));
      });
    }

    it('listens at the address guestAgent() names, in the VM directory', () => {
      expect(runtime.guestAgent(name).target).toBe(
        `unix://${join(dataDirs.get(runtime)!, 'vms', name, 'control.sock')}`,
      );
    });

    it('runs a command without a shell, with env and separate streams, and one exit', async () => {
      expect(
        await agentExec({ name: 'sh', args: ['-c', 'echo "$GREETING"; echo e >&2; exit 7'], env: { GREETING: 'hi' } }),
      ).toEqual({ out: 'hi\n', err: 'e\n', exits: [7] });
      expect(await agentExec({ name: 'echo', args: ['$HOME', '*'] })).toEqual({
        out: '$HOME *\n',
        err: '',
        exits: [0],
      });
    });

    it('runs in the scratch directory, or the workdir', async () => {
      const home = realpathSync(join(dataDirs.get(runtime)!, 'vms', name, 'home'));
      expect((await agentExec({ name: 'pwd' })).out).toBe(`${home}\n`);
      const workdir = realpathSync(tempDir());
      expect((await agentExec({ name: 'pwd', workdir })).out).toBe(`${workdir}\n`);
    });

    it('forwards stdin to interactive commands up to the empty chunk', async () => {
      expect(
        await agentExec({ name: 'cat', interactive: true }, [Buffer.from('one '), Buffer.from('two'), Buffer.alloc(0)]),
      ).toEqual({ out: 'one two', err: '', exits: [0] });
    });

    it('merges stderr into stdout for tty commands, with a terminal’s line endings', async () => {
      expect(await agentExec({ name: 'sh', args: ['-c', 'echo e >&2'], tty: true })).toEqual({
        out: 'e\r\n',
        err: '',
        exits: [0],
      });
    });

    it('gives tty commands a real terminal of the requested size that follows resizes', async () => {
      const call = agent.Exec();
      let out = '';
      call.on('data', (m: TartExecResponse) => {
        if (m.type === 'standard_output') out += m.standard_output.data.toString();
      });
      const ended = new Promise<number[]>((resolve, reject) => {
        const exits: number[] = [];
        call.on('data', (m: TartExecResponse) => m.type === 'exit' && exits.push(m.exit.code));
        call.on('end', () => resolve(exits));
        call.on('error', reject);
      });
      call.write({
        command: {
          name: 'sh',
          args: ['-c', 'test -t 0 && stty size; read line; stty size; echo "got $line"'],
          interactive: true,
          tty: true,
          terminal_size: { rows: 24, cols: 80 },
        },
      });
      await waitFor('the first size', () => out.includes('24 80'));
      call.write({ terminal_resize: { rows: 40, cols: 120 } });
      call.write({ standard_input: { data: Buffer.from('go\n') } });
      expect(await ended).toEqual([0]);
      expect(out.replace(/\r/g, '')).toMatch(/^24 80\n(go\n)?40 120\ngot go\n$/);
    });

    it('reports a command killed by a signal as -1, like agent v0.9', async () => {
      expect(await agentExec({ name: 'sh', args: ['-c', 'kill -9 $$'] })).toEqual({ out: '', err: '', exits: [-1] });
    });

    it('fails with UNKNOWN when the executable cannot start', async () => {
      const result = await agentExec({ name: 'no-such-command-in-path' });
      expect(result.exits).toEqual([]);
      expect(result.error?.code).toBe(status.UNKNOWN);
      expect(result.error?.details).toMatch(/executable file not found/);
    });

    it('resolves the VM’s IP to 127.0.0.1', async () => {
      const ip = await new Promise<string | undefined>((resolve, reject) =>
        agent.ResolveIP({}, {}, (err, res) => (err ? reject(err) : resolve(res?.ip))),
      );
      expect(ip).toBe('127.0.0.1');
    });
  });

  it('puts the control socket in the temp dir when the VM directory is too deep for sun_path', async () => {
    const runtime = await newRuntime({ dataDir: join(tempDir(), 'd'.repeat(120)) });
    const { name } = await boot(runtime);
    const target = runtime.guestAgent(name).target;
    expect(target).toMatch(new RegExp(`^unix://${tmpdir()}/grove-vm-[0-9a-f]{16}\\.sock$`));
    const agent = new (loadTartAgentProtocol().Agent)(target, grpcCredentials.createInsecure());
    try {
      const ip = await new Promise<string | undefined>((resolve, reject) =>
        agent.ResolveIP({}, {}, (err, res) => (err ? reject(err) : resolve(res?.ip))),
      );
      expect(ip).toBe('127.0.0.1');
    } finally {
      agent.close();
    }
  });

  describe('lifecycle', () => {
    it('clones any image once per name, records configuration and fqn', async () => {
      const runtime = await newRuntime();
      const name = vmName();
      await runtime.clone('ghcr.io/acme/macos:latest', name, signal);
      await expect(runtime.clone('other', name, signal)).rejects.toThrow(
        `synthetic runtime: VM "${name}" already exists`,
      );
      const hardware = { cpu: 4, memory: 8192, diskSize: 50, randomSerial: true };
      await runtime.configure(name, hardware, signal);
      expect(JSON.parse(readFileSync(join(dataDirs.get(runtime)!, 'vms', name, 'vm.json'), 'utf8'))).toEqual({
        image: 'ghcr.io/acme/macos:latest',
        hardware,
        suspended: false,
      });
      expect(await runtime.fqn('acme/macos', signal)).toBe(
        `acme/macos@sha256:${createHash('sha256').update('acme/macos').digest('hex')}`,
      );
    });

    it('ends runs on stop and suspend, remembers suspension until the next run, and deletes', async () => {
      const runtime = await newRuntime();
      const { name, exit } = await boot(runtime);
      expect(await runtime.list()).toEqual([{ name, running: true }]);
      expect(await runtime.ip(name, IP_OPTIONS, signal)).toBe('127.0.0.1');
      await runtime.suspend(name);
      expect(await exit).toEqual({ code: 0 });
      expect(await runtime.isSuspended(name, signal)).toBe(true);
      expect(await runtime.list()).toEqual([{ name, running: false }]);

      const again = runtime.run(name, RUN, signal);
      await waitFor('the second run', () => runtime.ip(name, IP_OPTIONS, signal).catch(() => undefined));
      expect(await runtime.isSuspended(name, signal)).toBe(false);
      await runtime.stop(name, 30);
      expect(await again).toEqual({ code: 0 });
      await expect(runtime.ip(name, IP_OPTIONS, signal)).rejects.toThrow(
        `synthetic runtime: VM "${name}" is not running`,
      );
      await expect(runtime.suspend(name)).rejects.toThrow(/not running/);

      const third = runtime.run(name, RUN, signal);
      await waitFor('the third run', () => runtime.ip(name, IP_OPTIONS, signal).catch(() => undefined));
      await runtime.delete(name);
      expect(await third).toEqual({ code: null });
      await runtime.delete(name);
      expect(await runtime.list()).toEqual([]);
    });

    it('ends a run at once when its signal aborts, also while it boots', async () => {
      const runtime = await newRuntime({ delays: { boot: 60_000 } });
      const name = vmName();
      await runtime.clone('any', name, signal);
      const abort = new AbortController();
      const exit = runtime.run(name, RUN, abort.signal);
      expect(await runtime.list()).toEqual([{ name, running: true }]);
      await expect(runtime.ip(name, IP_OPTIONS, signal)).rejects.toThrow(/not running/);
      abort.abort();
      expect(await exit).toEqual({ code: null });

      const stopped = runtime.run(name, RUN, signal);
      await runtime.stop(name, 30);
      expect(await stopped).toEqual({ code: 0 });
    });

    it('keeps VMs across a new runtime on the same data dir, none of them running', async () => {
      const runtime = await newRuntime();
      const { name } = await boot(runtime);
      const later = await newRuntime({ dataDir: dataDirs.get(runtime)! });
      expect(await later.list()).toEqual([{ name, running: false }]);
      await runtime.close();
      expect(await later.isSuspended(name, signal)).toBe(false);
      const exit = later.run(name, RUN, signal);
      const client = await waitFor('SSH after the restart', () => sshClient(later, name).catch(() => undefined));
      expect((await exec(client, 'echo again')).stdout).toBe('again\n');
      await later.close();
      expect(await exit).toEqual({ code: null });
    });

    it('fails the steps an image name asks to fail, and ends runs after exit-after-<ms>', async () => {
      const runtime = await newRuntime();
      await expect(runtime.pull('x/fail-pull', signal)).rejects.toThrow(
        'synthetic runtime: pull of "x/fail-pull" failed (the image name asks for it)',
      );
      await expect(runtime.pull('x/fail-clone', signal)).resolves.toBeUndefined();
      await expect(runtime.clone('x/fail-clone', vmName(), signal)).rejects.toThrow(
        'synthetic runtime: clone of "x/fail-clone" failed (the image name asks for it)',
      );
      const name = vmName();
      await runtime.clone('x/fail-run', name, signal);
      await expect(runtime.run(name, RUN, signal)).rejects.toThrow(
        'synthetic runtime: run of "x/fail-run" failed (the image name asks for it)',
      );
      const { exit } = await boot(runtime, 'x/img:exit-after-50');
      expect(await exit).toEqual({
        code: 1,
        error: 'synthetic runtime: the VM exited after 50 ms (the image name asks for it)',
      });
    });

    it('takes the configured time for each step and can be cancelled meanwhile', async () => {
      const runtime = await newRuntime({ delays: { pull: 60_000 } });
      const abort = new AbortController();
      const pull = runtime.pull('any', abort.signal);
      abort.abort();
      await expect(pull).rejects.toThrow();
    });
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
