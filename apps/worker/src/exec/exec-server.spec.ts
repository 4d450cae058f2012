import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TunnelFrame } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import { FakeTunnelCall } from '../test-support/fake-tunnel-call';
import { runOptions } from '../test-support/run-options';
import { SyntheticVms } from '../test-support/synthetic-vms';
import type { ExecStartFrame } from './exec-process';
import { ExecServer, type ExecServerOptions } from './exec-server';

const RUN = runOptions({ credentials: { username: 'ci', password: 'secret' } });

/** How one exec session went, seen from the controller. */
interface Outcome {
  via?: string;
  stdout: string;
  stderr: string;
  end?: { code: number } | { error: string };
}

function outcome(call: FakeTunnelCall): Outcome {
  const result: Outcome = { stdout: call.text('stdout'), stderr: call.text('stderr') };
  const started = call.frames('execStarted')[0];
  if (started) {
    result.via = started.via;
  }
  const last = call.written.at(-1);
  if (last?.kind === 'exit') {
    result.end = { code: last.code };
  } else if (last?.kind === 'error') {
    result.end = { error: last.message };
  }
  return result;
}

/** Whether a process has ended: it no longer exists, or it is a zombie (an orphan waits for init to reap it). */
function processGone(pid: number): boolean {
  try {
    // Linux: the state is the field after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    // No such process, or no /proc (macOS): ask the kernel.
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('ExecServer', () => {
  const signal = new AbortController().signal;
  let dataDir: string;
  let runtime: SyntheticRuntime;
  let server: ExecServer;
  let vms: SyntheticVms;
  const lines: string[] = [];
  let agentVm: string;
  let sshVm: string;
  let serial = 0;

  const boot = (image: string) => vms.boot(image, signal);

  function newServer(options: Partial<ExecServerOptions> = {}): ExecServer {
    return new ExecServer({
      guestAgent: vms.guestAgent,
      connectVm: vms.connectVm,
      log: (line) => lines.push(line),
      sshSetupTimeoutMs: 2_000,
      // A no-agent VM's control socket refuses at once; the agent is asked until this deadline (a booting VM's
      // agent comes up late), then SSH.
      agentReadyTimeoutMs: 500,
      ...options,
    });
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'grove-exec-'));
    runtime = new SyntheticRuntime({ dataDir });
    await runtime.start();
    vms = new SyntheticVms(runtime, '0b5e0d1c-2f4e-4c1a-9d6e-', RUN);
    server = newServer();
    agentVm = await boot('ghcr.io/cirruslabs/macos-sequoia-base:latest');
    sshVm = await boot('acme/no-agent:latest');
  });

  afterAll(async () => {
    server.closeAll('the test is over');
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts a session like the controller: a tunnel whose first frame is `execStart`. */
  function start(vmUid: string, frame: Partial<ExecStartFrame>, exec = server) {
    const call = new FakeTunnelCall();
    const done = exec.serve(
      {
        kind: 'execStart',
        session: `s${++serial}`,
        vmUid,
        argv: [],
        interactive: false,
        tty: false,
        rows: 0,
        cols: 0,
        env: {},
        workdir: '',
        username: 'admin',
        password: 'admin',
        ...frame,
      },
      call.asCall,
    );
    return { call, done };
  }

  async function run(vmUid: string, frame: Partial<ExecStartFrame>, input: TunnelFrame[] = []): Promise<Outcome> {
    const { call, done } = start(vmUid, frame);
    input.forEach((f) => call.send(f));
    await done;
    expect(call.workerEnded).toBe(true);
    return outcome(call);
  }

  const stdin = (text: string): TunnelFrame => ({ kind: 'stdin', data: Buffer.from(text) });
  const EOF: TunnelFrame = { kind: 'stdin', data: Buffer.alloc(0) };

  describe.each([
    ['the guest agent', 'agent', () => agentVm],
    ['SSH, for a VM without an agent', 'ssh', () => sshVm],
  ])('through %s', (_title, via, vm) => {
    it('keeps stdout and stderr apart and ends with the exit status', async () => {
      expect(await run(vm(), { argv: ['sh', '-c', 'echo out; echo err >&2; exit 7'] })).toEqual({
        via,
        stdout: 'out\n',
        stderr: 'err\n',
        end: { code: 7 },
      });
    });

    it('passes arguments literally', async () => {
      const result = await run(vm(), { argv: ['printf', '%s|', '$HOME', "it's", 'a b', '*'] });
      expect(result.stdout).toBe(`$HOME|it's|a b|*|`);
    });

    it('forwards stdin up to its end of file', async () => {
      expect(await run(vm(), { argv: ['cat'], interactive: true }, [stdin('one '), stdin('two'), EOF])).toMatchObject({
        via,
        stdout: 'one two',
        end: { code: 0 },
      });
    });

    it('applies env and workdir', async () => {
      const result = await run(vm(), {
        argv: ['sh', '-c', 'printf "%s|%s|%s" "$NAME" "$(pwd)" "$PWD"'],
        env: { NAME: "O'Reilly", OTHER: 'x y' },
        workdir: '/tmp',
      });
      expect(result).toMatchObject({ via, stdout: `O'Reilly|/tmp|/tmp`, end: { code: 0 } });
    });

    it('runs tty commands on a terminal of the requested size that follows resizes', async () => {
      const { call, done } = start(vm(), {
        argv: ['sh', '-c', 'stty size; read line; stty size'],
        interactive: true,
        tty: true,
        rows: 24,
        cols: 80,
      });
      await waitFor('the first size', () => call.text('stdout').includes('24 80'));
      call.send({ kind: 'resize', rows: 40, cols: 120 });
      call.send(stdin('go\n'));
      await done;
      const result = outcome(call);
      expect(result).toMatchObject({ via, stderr: '', end: { code: 0 } });
      expect(result.stdout.replace(/\r/g, '')).toMatch(/^24 80\n(go\n)?40 120\n$/);
    });

    it('kills the command when the controller ends the session', async () => {
      const { call, done } = start(vm(), { argv: ['sh', '-c', 'echo $$; exec sleep 60'] });
      await waitFor('the pid', () => /^\d+\n/.test(call.text('stdout')));
      const pid = Number(call.text('stdout').trim());
      expect(processGone(pid)).toBe(false);
      call.send({ kind: 'error', message: 'the user pressed ^C' });
      call.endFromController();
      await done;
      await waitFor('the command to be gone', () => processGone(pid));
      expect(call.frames('exit')).toEqual([]);
      expect(call.frames('error')).toEqual([]);
      expect(lines.some((line) => line.includes('cancelled (the user pressed ^C)'))).toBe(true);
    });

    it('stops reading output while the tunnel is full', async () => {
      const total = 16 * 1024 * 1024;
      const { call, done } = start(vm(), { argv: ['head', '-c', String(total), '/dev/zero'] });
      call.hold();
      const offered = () =>
        call.offered.reduce((sum, frame) => sum + (frame.kind === 'stdout' ? frame.data.length : 0), 0);
      const received = () => call.frames('stdout').reduce((sum, frame) => sum + frame.data.length, 0);
      // The command is held back: what reached the tunnel stops growing well before the whole output.
      let last = -1;
      await waitFor(
        'output to stall',
        async () => {
          const now = offered();
          const stalled = now === last && now > 0;
          last = now;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return stalled;
        },
        10_000,
      );
      expect(offered()).toBeLessThan(total / 2);
      call.release();
      await done;
      expect(received()).toBe(total);
      expect(outcome(call).end).toEqual({ code: 0 });
    });
  });

  describe('through the guest agent', () => {
    it('reports an executable it cannot start as an error, without falling back', async () => {
      const result = await run(agentVm, { argv: ['no-such-command-anywhere'] });
      expect(result.via).toBeUndefined();
      expect(result.end).toEqual({ error: 'exec: "no-such-command-anywhere": executable file not found in $PATH' });
    });

    it('reports a command killed by a signal as 255, like tart exec', async () => {
      expect((await run(agentVm, { argv: ['sh', '-c', 'kill -9 $$'] })).end).toEqual({ code: 255 });
    });
  });

  describe('over SSH', () => {
    it('asks the agent of a VM without one again only after a while: the next execs go straight to SSH', async () => {
      const vm = await boot('acme/no-agent:v2');
      const fresh = newServer();
      try {
        const first = start(vm, { argv: ['echo', 'one'] }, fresh);
        await first.done;
        expect(outcome(first.call)).toMatchObject({ via: 'ssh', stdout: 'one\n', end: { code: 0 } });
        const second = start(vm, { argv: ['echo', 'two'] }, fresh);
        await second.done;
        expect(outcome(second.call)).toMatchObject({ via: 'ssh', stdout: 'two\n', end: { code: 0 } });
        const forVm = lines.filter((line) => line.includes(`in VM ${vm}:`));
        expect(forVm.filter((line) => /guest agent did not answer within/.test(line))).toHaveLength(1);
        expect(forVm.filter((line) => /did not answer lately; using SSH/.test(line))).toHaveLength(1);
      } finally {
        fresh.closeAll('done');
      }
    });

    it('reports a missing executable the way the shell does', async () => {
      const result = await run(sshVm, { argv: ['no-such-command-anywhere'] });
      expect(result).toMatchObject({ via: 'ssh', end: { code: 127 } });
      expect(result.stderr).toMatch(/not found/);
    });

    it('reports a command killed by a signal as 128 + its number', async () => {
      expect((await run(sshVm, { argv: ['sh', '-c', 'kill -9 $$'] })).end).toEqual({ code: 137 });
    });

    it('runs 32 concurrent commands on the few SSH connections sshd’s 10 sessions per connection call for', async () => {
      let dialled = 0;
      const fresh = newServer({
        connectVm: (vmUid, port, abort) => {
          dialled += port === 22 ? 1 : 0;
          return vms.connectVm(vmUid, port, abort);
        },
        // 32 agent connections refused at once take the agent's whole ready timeout to give up on.
        agentReadyTimeoutMs: 300,
        // Four handshakes while 32 shells poll: room for a slow machine.
        sshSetupTimeoutMs: 10_000,
      });
      // Each command waits until all 32 run at once, so the VM's limit of 10 sessions per connection is met.
      const home = join(dataDir, 'vms', vms.name(sshVm) ?? '', 'home');
      const tag = `burst${++serial}`;
      const script = (i: number) =>
        `touch ${tag}-started-${i}; while [ ! -e ${tag}-go ]; do sleep 0.1; done; echo ${i}; echo e${i} >&2`;
      try {
        const pending = Promise.all(
          Array.from({ length: 32 }, async (_, i) => {
            const { call, done } = start(sshVm, { argv: ['sh', '-c', script(i)] }, fresh);
            await done;
            return outcome(call);
          }),
        );
        await waitFor('32 commands to run at once', () =>
          readdirSync(home).filter((file) => file.startsWith(`${tag}-started-`)).length === 32 ? true : undefined,
        );
        writeFileSync(join(home, `${tag}-go`), '');
        const results = await pending;
        results.forEach((result, i) =>
          expect(result).toEqual({ via: 'ssh', stdout: `${i}\n`, stderr: `e${i}\n`, end: { code: 0 } }),
        );
        // ceil(32 / 10): fewer cannot carry 32 sessions at once, more would be waste.
        expect(dialled).toBe(4);
        expect(fresh.sshConnectionCount).toBe(4);
      } finally {
        fresh.closeAll('done');
      }
    });

    it('falls back when the agent accepts connections but never answers', async () => {
      const hung = await boot('acme/hung-agent');
      const fresh = newServer({ agentReadyTimeoutMs: 300 });
      try {
        const { call, done } = start(hung, { argv: ['echo', 'hi'] }, fresh);
        await done;
        expect(outcome(call)).toEqual({ via: 'ssh', stdout: 'hi\n', stderr: '', end: { code: 0 } });
      } finally {
        fresh.closeAll('done');
      }
    });

    it('fails with the reason when the login is refused', async () => {
      const result = await run(sshVm, { argv: ['true'], username: 'admin', password: 'wrong' });
      expect(result.via).toBeUndefined();
      expect(result.end).toMatchObject({ error: expect.stringMatching(/failed to establish an SSH connection/) });
    });
  });

  it('refuses a VM that does not run on this worker', async () => {
    expect((await run('no-such-uid', { argv: ['true'] })).end).toEqual({
      error: 'VM with uid no-such-uid is not running on this worker',
    });
  });

  it('ends running sessions when the worker stops', async () => {
    const fresh = newServer();
    const { call, done } = start(agentVm, { argv: ['sleep', '60'] }, fresh);
    await waitFor('the start', () => call.frames('execStarted').length > 0);
    expect(fresh.activeSessions).toBe(1);
    fresh.closeAll('the worker is shutting down');
    await done;
    expect(outcome(call).end).toEqual({ error: 'the worker is shutting down' });
    expect(fresh.activeSessions).toBe(0);
  });
});
