import { Duplex } from 'node:stream';
import type { Vm } from '@grove/resources';
import type { TunnelFrame } from '@grove/proto';
import { ExecLauncher, ExecStartError, type ExecEnd, type RemoteExec } from './remote-exec';
import type { TunnelBroker, TunnelCall } from './tunnel-broker';

/** The controller's end of a tunnel: frames written are recorded; `deliver` plays the worker's frames in one batch. */
class FakeCall extends Duplex {
  readonly written: TunnelFrame[] = [];
  ended = false;

  constructor() {
    super({ objectMode: true });
    this.once('finish', () => (this.ended = true));
  }

  override _read(): void {}

  override _write(frame: TunnelFrame, _encoding: BufferEncoding, callback: () => void): void {
    this.written.push(frame);
    callback();
  }

  /** Several frames pushed synchronously, as grpc-js does with the messages of one HTTP/2 DATA read. */
  deliver(...frames: TunnelFrame[]): void {
    for (const frame of frames) {
      this.push(frame);
    }
  }
}

const vm = { name: 'v1', uid: 'uid-1', worker: 'w1', username: '', password: '' } as Vm;

function launcherWith(call: FakeCall): ExecLauncher {
  const broker = { take: () => Promise.resolve(call as unknown as TunnelCall) } as unknown as TunnelBroker;
  return new ExecLauncher(broker);
}

/** Collects a RemoteExec's output and end the way the exec endpoints do: listeners attached after start resolves. */
function collect(exec: RemoteExec): Promise<{ stdout: string; stderr: string; end: ExecEnd }> {
  let stdout = '';
  let stderr = '';
  exec.on('stdout', (data: Buffer) => (stdout += data.toString()));
  exec.on('stderr', (data: Buffer) => (stderr += data.toString()));
  return exec.done.then((end) => ({ stdout, stderr, end }));
}

describe('ExecLauncher / RemoteExec', () => {
  it('sends the start frame with the VM login (admin/admin by default) and the spec', async () => {
    const call = new FakeCall();
    const starting = launcherWith(call).start(
      vm,
      { argv: ['sh', '-c', 'cat'], interactive: false, tty: true, rows: 24, cols: 80, env: { A: '1' } },
      { timeoutMs: 1000 },
    );
    await new Promise((resolve) => setImmediate(resolve));
    call.deliver({ kind: 'execStarted', via: 'agent' });
    const exec = await starting;
    expect(exec.via).toBe('agent');
    expect(call.written[0]).toMatchObject({
      kind: 'execStart',
      vmUid: 'uid-1',
      argv: ['sh', '-c', 'cat'],
      interactive: true,
      tty: true,
      rows: 24,
      cols: 80,
      env: { A: '1' },
      username: 'admin',
      password: 'admin',
    });
  });

  it('keeps output that arrives in the same batch as the start for listeners attached after start resolves', async () => {
    const call = new FakeCall();
    const starting = launcherWith(call).start(
      vm,
      { argv: ['true'], interactive: false, tty: false },
      { timeoutMs: 1000 },
    );
    await new Promise((resolve) => setImmediate(resolve));
    call.deliver(
      { kind: 'execStarted', via: 'agent' },
      { kind: 'stdout', data: Buffer.from('out\n') },
      { kind: 'stderr', data: Buffer.from('err\n') },
      { kind: 'exit', code: 7 },
    );
    const exec = await starting;
    const result = await collect(exec);
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n', end: { exitCode: 7 } });
    expect(exec.bytesOut).toBe(8);
    expect(call.ended).toBe(true);
  });

  it('rejects the start with the worker reason when the command cannot start', async () => {
    const call = new FakeCall();
    const starting = launcherWith(call).start(
      vm,
      { argv: ['nope'], interactive: false, tty: false },
      { timeoutMs: 1000 },
    );
    await new Promise((resolve) => setImmediate(resolve));
    call.deliver({ kind: 'error', message: 'exec: "nope": executable file not found in $PATH' });
    await expect(starting).rejects.toThrow(new ExecStartError('exec: "nope": executable file not found in $PATH'));
  });

  it('stdin, end of file and resizes become frames; kill sends the reason and ends the tunnel', async () => {
    const call = new FakeCall();
    const starting = launcherWith(call).start(
      vm,
      { argv: ['cat'], interactive: true, tty: false },
      { timeoutMs: 1000 },
    );
    await new Promise((resolve) => setImmediate(resolve));
    call.deliver({ kind: 'execStarted', via: 'ssh' });
    const exec = await starting;
    exec.writeStdin(Buffer.alloc(100_000, 1));
    exec.endStdin();
    exec.resize(40, 120);
    exec.kill('the client went away');
    expect(call.written.slice(1).map((frame) => [frame.kind, 'data' in frame ? frame.data.length : undefined])).toEqual(
      [
        ['stdin', 65536],
        ['stdin', 100_000 - 65536],
        ['stdin', 0],
        ['resize', undefined],
        ['error', undefined],
      ],
    );
    expect(await exec.done).toEqual({ error: 'the client went away' });
    expect(exec.bytesIn).toBe(100_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(call.ended).toBe(true);
  });

  it('a tunnel that ends without an exit status ends the command with an error', async () => {
    const call = new FakeCall();
    const starting = launcherWith(call).start(
      vm,
      { argv: ['true'], interactive: false, tty: false },
      { timeoutMs: 1000 },
    );
    await new Promise((resolve) => setImmediate(resolve));
    call.deliver({ kind: 'execStarted', via: 'agent' });
    const exec = await starting;
    call.push(null);
    expect(await exec.done).toEqual({ error: 'the worker ended the session without an exit status' });
  });
});
