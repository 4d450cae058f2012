import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { alive, echoProcess, readDescription } from '../test-support/host-process-helpers';
import { HostProcessSet } from './host-process-set';

describe('HostProcessSet', () => {
  let scratch: string;
  let changes: number;
  let set: HostProcessSet;

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'grove-hps-test-'));
    changes = 0;
    set = new HostProcessSet({
      workerName: 'mac-1',
      vmName: 'web',
      controlSocket: join(scratch, 'control.sock'),
      path: '/usr/bin:/bin',
      log: () => undefined,
      stopGraceMs: 200,
      readyTimeoutMs: 2_000,
      onChange: () => changes++,
    });
  });
  afterEach(async () => {
    await set.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function describeProcess(name: string) {
    const socket = await set.connect(name, new AbortController().signal);
    try {
      return await readDescription(socket);
    } finally {
      socket.destroy();
    }
  }

  it('starts every process and is ready once all of them accept connections', async () => {
    await set.start([echoProcess('a'), echoProcess('b', '--listen-after', '200')]);
    expect(set.ready).toBe(true);
    expect(set.problem).toBeUndefined();
    expect((await describeProcess('b')).argv).toEqual(['--listen-after', '200']);
    await expect(set.connect('c', new AbortController().signal)).rejects.toThrow('host process "c" is not running');
  });

  it('stops the others when one cannot start, and says which and why', async () => {
    const started = set.start([echoProcess('good'), echoProcess('bad', '--exit', '2')]);
    await expect(started).rejects.toThrow('failed to start host process "bad": exited with code 2');
    expect(set.ready).toBe(false);
    expect(set.problem).toBe('failed to start host process "bad": exited with code 2');
    await expect(set.connect('good', new AbortController().signal)).rejects.toThrow(
      'host process "good" is not running',
    );
  });

  it('stays not ready, without restarting it, when a process exits later', async () => {
    await set.start([echoProcess('a'), echoProcess('b')]);
    const pid = (await describeProcess('a')).pid;
    const socket = await set.connect('b', new AbortController().signal);
    await readDescription(socket);
    const before = changes;
    socket.end('exit 5\n');
    await waitFor('the change', () => changes > before);
    expect(set.ready).toBe(false);
    expect(set.problem).toBe('host process "b" exited with code 5');
    expect((await describeProcess('a')).pid).toBe(pid);
    await expect(set.connect('b', new AbortController().signal)).rejects.toThrow('host process "b" is not running');
  });

  it('replaces every process with the new list', async () => {
    await set.start([echoProcess('a', 'one'), echoProcess('b')]);
    const a = await describeProcess('a');
    const b = await describeProcess('b');
    await set.replace([echoProcess('a', 'two'), echoProcess('c')]);
    expect(set.ready).toBe(true);
    const a2 = await describeProcess('a');
    expect(a2.argv).toEqual(['two']);
    expect(a2.pid).not.toBe(a.pid);
    expect(alive(a.pid) || alive(b.pid)).toBe(false);
    expect(existsSync(a.cwd) || existsSync(b.cwd)).toBe(false);
    await expect(set.connect('b', new AbortController().signal)).rejects.toThrow('host process "b" is not running');
    expect((await describeProcess('c')).argv).toEqual([]);
  });

  it('keeps a replacement that cannot start as its problem rather than throwing', async () => {
    await set.start([echoProcess('a')]);
    await set.replace([echoProcess('a', '--exit', '9')]);
    expect(set.ready).toBe(false);
    expect(set.problem).toBe('failed to start host process "a": exited with code 9');
    await set.replace([echoProcess('a')]);
    expect(set.ready).toBe(true);
    expect(set.problem).toBeUndefined();
  });

  it('stops everything on close, also processes still starting', async () => {
    const starting = set.start([echoProcess('slow', '--never-listen')]);
    // One turn of the event loop: the queued start has spawned the program.
    await new Promise((resolve) => setImmediate(resolve));
    await set.close();
    await expect(starting).rejects.toThrow('the VM is stopping');
    expect(set.ready).toBe(false);
  });
});
