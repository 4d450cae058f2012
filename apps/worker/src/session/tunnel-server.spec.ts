import type { LookupAddress, LookupOptions } from 'node:dns';
import type { lookup } from 'node:dns';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TunnelFrame } from '@grove/proto';
import { waitFor } from '@grove/testing';
import { HostProcessSet } from '../host-processes/host-process-set';
import { FakeTunnelCall } from '../test-support/fake-tunnel-call';
import { echoProcess } from '../test-support/host-process-helpers';
import { createLocalhostLookup, TunnelServer, type TunnelServerOptions } from './tunnel-server';

type Answer = [NodeJS.ErrnoException | null, string | LookupAddress[], number?];

/** Runs the lookup and resolves with what its callback got. */
function ask(run: ReturnType<typeof createLocalhostLookup>, options: LookupOptions): Promise<Answer> {
  return new Promise((resolve) => run('localhost', options, (...answer) => resolve(answer)));
}

describe('createLocalhostLookup', () => {
  const v4: LookupAddress[] = [{ address: '127.0.0.1', family: 4 }];
  let clock = 0;
  let answers: Answer[] = [];
  const asked: LookupOptions[] = [];
  const resolver = ((_host: string, options: LookupOptions, callback: (...answer: Answer) => void) => {
    asked.push(options);
    const next = answers.shift() ?? [null, v4, undefined];
    setImmediate(() => callback(...next));
  }) as unknown as typeof lookup;

  beforeEach(() => {
    clock = 0;
    answers = [];
    asked.length = 0;
  });

  it('asks the system once a minute per kind of question and answers later calls asynchronously', async () => {
    const run = createLocalhostLookup(resolver, () => clock);
    expect(await ask(run, { all: true })).toEqual([null, v4, undefined]);
    let sync = true;
    const cached = new Promise<Answer>((resolve) =>
      run('localhost', { all: true }, (...answer) => resolve(sync ? [new Error('called synchronously'), ''] : answer)),
    );
    sync = false;
    expect(await cached).toEqual([null, v4, undefined]);
    expect(asked).toHaveLength(1);

    answers.push([null, '127.0.0.1', 4]);
    expect(await ask(run, { family: 4 })).toEqual([null, '127.0.0.1', 4]);
    expect(asked).toHaveLength(2);

    clock = 60_001;
    await ask(run, { all: true });
    expect(asked).toHaveLength(3);
  });

  it('never remembers a failure', async () => {
    const run = createLocalhostLookup(resolver, () => clock);
    const failure = Object.assign(new Error('getaddrinfo EAI_AGAIN localhost'), { code: 'EAI_AGAIN' });
    answers.push([failure, '', undefined]);
    expect((await ask(run, { all: true }))[0]).toBe(failure);
    expect(await ask(run, { all: true })).toEqual([null, v4, undefined]);
    expect(asked).toHaveLength(2);
  });
});

describe('TunnelServer targets', () => {
  let dir: string;
  const dialled: number[] = [];
  const server = (agentPath: string) =>
    new TunnelServer({
      connectVm: (_uid, port) => {
        dialled.push(port);
        return Promise.reject(new Error('no VM ports here'));
      },
      guestAgent: (uid) => {
        if (uid !== 'uid-1') {
          throw new Error(`VM with uid ${uid} is not running on this worker`);
        }
        return { target: `unix://${agentPath}` };
      },
      minRttMs: () => 1,
      log: () => undefined,
    });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'grove-tunnel-'));
    dialled.length = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('connects the tart-guest-agent target to the VM agent socket and carries its bytes', async () => {
    const path = join(dir, 'control.sock');
    const agent = createServer((socket) => socket.on('data', (data) => socket.write(`agent:${data.toString()}`)));
    await new Promise<void>((resolve) => agent.listen(path, resolve));
    try {
      const tunnels = server(path);
      const fake = new FakeTunnelCall();
      const served = tunnels.serve(
        { kind: 'open', session: 's', vmUid: 'uid-1', port: 0, target: 'tart-guest-agent' },
        fake.asCall,
      );
      await waitFor('opened', () => fake.written.some((frame) => frame.kind === 'opened'));
      fake.send({ kind: 'data', data: Buffer.from('ping') } satisfies TunnelFrame);
      await waitFor('the reply', () => fake.written.some((frame) => frame.kind === 'data'));
      expect(fake.written.find((frame) => frame.kind === 'data')).toEqual({
        kind: 'data',
        data: Buffer.from('agent:ping'),
      });
      tunnels.closeAll('test over');
      await served;
      expect(dialled).toEqual([]);
    } finally {
      agent.close();
    }
  });

  it.each([
    [
      'a target it does not know',
      { target: 'unknown' as const, vmUid: 'uid-1' },
      'this worker does not support the tunnel target the controller asked for (upgrade the worker)',
    ],
    ['no port and no target', { vmUid: 'uid-1' }, 'the tunnel names neither a port nor a target this worker supports'],
    [
      'the agent of a VM that does not run here',
      { target: 'tart-guest-agent' as const, vmUid: 'uid-2' },
      'VM with uid uid-2 is not running on this worker',
    ],
  ])('answers %s with an error frame and dials nothing', async (_what, open, message) => {
    const fake = new FakeTunnelCall();
    await server(join(dir, 'none.sock')).serve({ kind: 'open', session: 's', port: 0, ...open }, fake.asCall);
    expect(fake.written).toEqual([{ kind: 'error', message }]);
    expect(dialled).toEqual([]);
  });

  it('reports an agent socket nobody listens on', async () => {
    const fake = new FakeTunnelCall();
    await server(join(dir, 'none.sock')).serve(
      { kind: 'open', session: 's', vmUid: 'uid-1', port: 0, target: 'tart-guest-agent' },
      fake.asCall,
    );
    expect(fake.written).toEqual([
      {
        kind: 'error',
        message: expect.stringMatching(/^cannot connect to the Tart guest agent of VM uid-1: .*ENOENT/),
      },
    ]);
  });
});

describe('TunnelServer and host processes', () => {
  let dir: string;
  let set: HostProcessSet;
  const tunnels = (connectHostProcess?: TunnelServerOptions['connectHostProcess']) =>
    new TunnelServer({
      connectVm: () => Promise.reject(new Error('no VM ports here')),
      guestAgent: () => ({ target: 'unix:///nowhere.sock' }),
      ...(connectHostProcess ? { connectHostProcess } : {}),
      minRttMs: () => 1,
      log: () => undefined,
    });
  const served = () =>
    tunnels((uid, name, signal) =>
      uid === 'uid-1' ? set.connect(name, signal) : Promise.reject(new Error(`host process "${name}" is not running`)),
    );

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'grove-tunnel-hp-'));
    set = new HostProcessSet({
      workerName: 'mac-1',
      vmName: 'web',
      controlSocket: join(dir, 'control.sock'),
      path: '/usr/bin:/bin',
      log: () => undefined,
      stopGraceMs: 200,
      onChange: () => undefined,
    });
  });
  afterEach(async () => {
    await set.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects the host-process target to the process socket, also while the process starts', async () => {
    const starting = set.start([echoProcess('proxy', '--listen-after', '200')]);
    const server = served();
    const fake = new FakeTunnelCall();
    const serving = server.serve(
      { kind: 'open', session: 's', vmUid: 'uid-1', port: 0, target: 'host-process', hostProcess: 'proxy' },
      fake.asCall,
    );
    await waitFor('opened', () => fake.written.some((frame) => frame.kind === 'opened'));
    await starting;
    fake.send({ kind: 'data', data: Buffer.from('ping\n') } satisfies TunnelFrame);
    const bytes = () =>
      Buffer.concat(fake.written.flatMap((frame) => (frame.kind === 'data' ? [frame.data] : []))).toString('utf8');
    await waitFor('the echo', () => bytes().endsWith('ping\n'));
    expect(JSON.parse(bytes().split('\n')[0])).toMatchObject({ argv: ['--listen-after', '200'] });
    server.closeAll('test over');
    await serving;
  });

  it.each([
    ['a process that does not run', { vmUid: 'uid-1', hostProcess: 'other' }, 'host process "other" is not running'],
    ['a VM without it', { vmUid: 'uid-2', hostProcess: 'proxy' }, 'host process "proxy" is not running'],
    ['no process name', { vmUid: 'uid-1' }, 'the host process target needs a VM and a process name'],
  ])('answers %s with an error frame', async (_what, open, message) => {
    await set.start([echoProcess('proxy')]);
    const fake = new FakeTunnelCall();
    await served().serve({ kind: 'open', session: 's', port: 0, target: 'host-process', ...open }, fake.asCall);
    expect(fake.written).toEqual([{ kind: 'error', message }]);
  });

  it('refuses the target on a worker that runs no host processes', async () => {
    const fake = new FakeTunnelCall();
    await tunnels().serve(
      { kind: 'open', session: 's', vmUid: 'uid-1', port: 0, target: 'host-process', hostProcess: 'proxy' },
      fake.asCall,
    );
    expect(fake.written).toEqual([{ kind: 'error', message: 'this worker does not run host processes' }]);
  });
});
