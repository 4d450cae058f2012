import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GroveClient } from '@grove/client';
import type { Vm, WatchMessage } from '@grove/resources';
import { waitFor, type RunningProcess } from '@grove/testing';
import { startHaCluster, type HaCluster, type Replica } from './test-support/ha-cluster';
import { ExecSocket } from './test-support/exec-socket';
import { askpassEnv, runOpenSsh, writeAskpass } from './test-support/openssh-client';
import { untilRunning } from './test-support/running-vm';
import { sessionCount, startSyntheticWorker } from './test-support/synthetic-worker';
import { closeAndWait, echoThrough, within } from './test-support/websocket-session';

/**
 * Two controllers on one Postgres behind HAProxy (TCP mode, loopback), two synthetic workers connected through the
 * balancer: a session that reaches the replica without the worker's session is relayed to the one that has it;
 * watches see changes made through the other replica; killing a replica moves its workers to the other. HAProxy is
 * installed by scripts/test.sh (scripts/ensure-haproxy.sh); without it the suite fails, never skips.
 */
describe('several controllers on one Postgres', () => {
  let cluster: HaCluster;
  let home: string;
  const workers: RunningProcess[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-multi-'));
    cluster = await startHaCluster(2, ['--worker-offline-timeout', '20s', '--shutdown-grace', '2s']);
    for (const name of ['mw-1', 'mw-2']) {
      workers.push(
        await startSyntheticWorker({
          controllerUrl: cluster.url,
          adminToken: cluster.adminToken,
          name,
          dataDir: join(home, name),
          labels: `pin=${name}`,
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await cluster?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /** The replica holding the worker's session, and the other one. */
  async function holderAndOther(worker: string): Promise<{ holder: Replica; other: Replica }> {
    const holder = await waitFor(`a replica holding ${worker}`, () => cluster.holderOf(worker), 10_000, 100);
    const other = cluster.replicas.find((r) => r !== holder && r.running());
    if (!other) {
      throw new Error('no second replica running');
    }
    return { holder, other };
  }

  async function vmOn(client: GroveClient, name: string, worker: string): Promise<Vm> {
    await client.vms.create({ name, image: 'any', os: 'linux', labels: { pin: worker } });
    return untilRunning(client, name, 30_000);
  }

  async function echoThroughReplica(replica: Replica, vm: string): Promise<void> {
    const ws = await replica.client.vms.portForward(vm, { port: 7, waitSeconds: 10 });
    try {
      const data = randomBytes(256 * 1024);
      expect((await echoThrough(ws, data)).equals(data)).toBe(true);
    } finally {
      await closeAndWait(ws);
    }
  }

  /** The same over Grove's raw tunnel protocol (`Upgrade: grove-tunnel/1`). */
  async function rawEchoThroughReplica(replica: Replica, vm: string): Promise<void> {
    const socket = await replica.client.vms.portForwardStream(vm, { port: 7, waitSeconds: 10 });
    const data = randomBytes(256 * 1024);
    const chunks: Buffer[] = [];
    const back = new Promise<Buffer>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('end', () => resolve(Buffer.concat(chunks)));
      socket.once('error', reject);
    });
    socket.end(data);
    expect((await back).equals(data)).toBe(true);
  }

  it('names the replica in /v1/controller/info and lists which replica holds each worker', async () => {
    const names = await Promise.all(cluster.replicas.map(async (r) => (await r.client.controllerInfo()).replica));
    expect(names).toEqual(['ctl-a', 'ctl-b']);
    // One SSH host key for the cluster: known_hosts entries hold whichever replica the balancer picks.
    const hostKeys = cluster.replicas.map((r) => /host key (ssh-ed25519 SHA256:\S+),/.exec(r.output())?.[1]);
    expect(hostKeys[0]).toBeDefined();
    expect(hostKeys[1]).toBe(hostKeys[0]);
    expect(cluster.replicas[1].output()).toContain("shared by the cluster's first replica");
    const listed = await cluster.replicas[1].client.workers.list();
    for (const worker of ['mw-1', 'mw-2']) {
      const session = listed.find((w) => w.name === worker)?.session;
      expect(session).toMatchObject({ up: true });
      expect(['ctl-a', 'ctl-b']).toContain(session?.replica);
    }
  });

  it('relays port-forward, exec and ip from the replica without the worker to the one with it', async () => {
    const { holder, other } = await holderAndOther('mw-1');
    await vmOn(other.client, 'relay-vm', 'mw-1');
    await echoThroughReplica(other, 'relay-vm');
    // Raw port-forwards: relayed over a tunnel stream from the replica without the worker, over one of the worker's
    // raw links (or a stream) at the replica that holds it.
    await rawEchoThroughReplica(other, 'relay-vm');
    await rawEchoThroughReplica(holder, 'relay-vm');

    const events = [];
    for await (const event of other.client.vms.execStream('relay-vm', {
      command: 'sh',
      args: ['-c', 'echo relayed; exit 3'],
    })) {
      events.push(event);
    }
    expect(events).toContainEqual(expect.objectContaining({ event: 'stdout', data: 'relayed\n' }));
    expect(events[events.length - 1]).toMatchObject({ event: 'exit', code: 3 });

    expect(await other.client.vms.ip('relay-vm', { waitSeconds: 5 })).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });

  it('a reconnectable exec session started through one replica is reattached through the other', async () => {
    const [a, b] = cluster.replicas;
    await untilRunning(a.client, 'relay-vm');
    const id = `roam-${randomBytes(4).toString('hex')}`;
    const first = new ExecSocket(
      await a.client.vms.exec('relay-vm', {
        command: 'echo first; read x; echo second',
        session: id,
        interactive: true,
      }),
    );
    await first.outputContains('first\n');
    first.send({ type: 'detach' });
    expect(await first.closed).toEqual({ code: 1000, reason: 'detached' });

    // Through the other replica: forwarded to the one that holds the session, with its history and no duplicate.
    const again = new ExecSocket(await b.client.vms.exec('relay-vm', { session: id }));
    again.send({ type: 'history', watermark: 1 });
    again.stdin('go\n');
    await again.frame((f) => f.type === 'exit', 'the exit of the reattached command');
    expect(again.output()).toBe('second\n');
    // Starting it again through the other replica with the same id reattaches too: it never runs twice.
    const third = new ExecSocket(
      await b.client.vms.exec('relay-vm', {
        command: 'echo first; read x; echo second',
        session: id,
        interactive: true,
      }),
    );
    third.send({ type: 'history', watermark: 0 });
    await third.frame((f) => f.type === 'no_more_history', 'the history');
    expect(third.output()).toBe('first\nsecond\n');
    third.send({ type: 'close' });
    again.ws.close();
    await third.closed;
  });

  it('ssh -J through the replica without the worker reaches the VM', async () => {
    const { other } = await holderAndOther('mw-1');
    const config = join(home, 'ssh_config');
    writeFileSync(
      config,
      [
        'Host *',
        '  UserKnownHostsFile /dev/null',
        '  StrictHostKeyChecking no',
        '  PreferredAuthentications password',
        '  PubkeyAuthentication no',
        '  NumberOfPasswordPrompts 1',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
    // A service account of its own: the askpass program answers "admin" to any prompt naming admin@.
    const token = `jumper-token-${randomBytes(6).toString('hex')}`;
    await cluster.client.serviceAccounts.create({ name: 'jumper', roles: ['compute:connect'], token });
    const result = await runOpenSsh(
      'ssh',
      ['-F', config, '-J', `jumper@127.0.0.1:${other.sshPort}`, 'admin@relay-vm', 'echo through-the-jump'],
      { env: askpassEnv(writeAskpass(home), token) },
    );
    expect({ ...result, stderr: result.code === 0 ? '' : result.stderr }).toEqual({
      code: 0,
      stdout: 'through-the-jump\n',
      stderr: '',
    });
  });

  it('a watch on one replica sees changes made through the other', async () => {
    const [a, b] = cluster.replicas;
    const seen: WatchMessage<Vm>[] = [];
    const abort = new AbortController();
    const watching = (async () => {
      for await (const message of b.client.vms.watch('watched-vm', { signal: abort.signal })) {
        seen.push(message);
        if (message.type === 'DELETED') {
          return;
        }
      }
    })().catch((err: Error) => {
      if (!abort.signal.aborted) {
        throw err;
      }
    });
    try {
      await a.client.vms.create({ name: 'watched-vm', image: 'any', os: 'linux', labels: { pin: 'mw-2' } });
      await waitFor('the watch on ctl-b to see the VM running', () => seen.some((m) => m.object.status === 'running'));
      await a.client.vms.delete('watched-vm');
      await within(10_000, 'the DELETED message on ctl-b', watching);
      expect(seen[0].type).toBe('ADDED');
      expect(seen[seen.length - 1]).toMatchObject({ type: 'DELETED', object: { name: 'watched-vm' } });
    } finally {
      abort.abort();
    }
  });

  it('a killed replica loses its workers to the other within 5 s; no VM fails; the survivor schedules', async () => {
    const { holder, other } = await holderAndOther('mw-2');
    const vm = await vmOn(cluster.client, 'survivor-vm', 'mw-2');
    const worker = workers[1];
    const sessions = sessionCount(worker);
    await holder.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      'mw-2 to reconnect to the other replica',
      async () => (await cluster.holderOf('mw-2')) === other,
      10_000,
      50,
    );
    expect(sessionCount(worker)).toBeGreaterThan(sessions);
    expect(Date.now() - killedAt).toBeLessThan(5_000);

    await echoThroughReplica(other, vm.name);
    // The survivor takes the scheduler over (the dead replica's advisory lock went with its connection).
    await vmOn(other.client, 'after-failover-vm', 'mw-1');
    const all = await other.client.vms.list();
    expect(all.filter((v) => v.status === 'failed')).toEqual([]);

    await holder.start();
  });

  it('a rolling restart of every replica under load fails no VM and loses no row', async () => {
    const errors: string[] = [];
    const created: string[] = [];
    let stop = false;
    const load = async (worker: string, vm: string) => {
      for (let i = 0; !stop; i++) {
        const name = `roll-${worker}-${i}`;
        try {
          await cluster.client.vms.create({ name, image: 'any', os: 'linux', labels: { pin: worker } });
          created.push(name);
          for await (const event of cluster.client.vms.execStream(vm, { command: 'true', args: [] })) {
            if (event.event === 'error') {
              errors.push(`exec: ${event.message}`);
            }
          }
          await echoThroughReplica({ ...cluster.replicas[0], client: cluster.client }, vm);
        } catch (err) {
          errors.push(`${name}: ${(err as Error).message}`);
        }
      }
    };
    await vmOn(cluster.client, 'roll-target-1', 'mw-1');
    await vmOn(cluster.client, 'roll-target-2', 'mw-2');
    const loops = [load('mw-1', 'roll-target-1'), load('mw-2', 'roll-target-2')];
    try {
      for (const replica of cluster.replicas) {
        if (replica.running()) {
          expect(await replica.stop('SIGTERM')).toBe(0);
        }
        await replica.start();
        for (const worker of ['mw-1', 'mw-2']) {
          await waitFor(`${worker} to have a session`, () => cluster.holderOf(worker), 10_000, 100);
        }
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    const vms = await cluster.client.vms.list();
    expect(vms.filter((vm) => vm.status === 'failed')).toEqual([]);
    const names = new Set(vms.map((vm) => vm.name));
    expect(created.filter((name) => !names.has(name))).toEqual([]);
    expect(created.length).toBeGreaterThan(4);
    // Only what was in flight on a replica as it stopped may fail (a request on a keep-alive connection the replica
    // closed, a session cut at the end of the drain, a request answered 503 while it drained): a few per restart,
    // each saying why.
    const inFlight = /socket hang up|ECONNRESET|shutting down|Service Unavailable|connection to the worker was lost/;
    expect(errors.filter((e) => !inFlight.test(e))).toEqual([]);
    expect(errors.length <= 5 * cluster.replicas.length ? [] : errors).toEqual([]);
  });
});
