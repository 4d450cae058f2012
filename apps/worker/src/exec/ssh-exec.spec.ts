import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { Server as SshServer, type Connection } from 'ssh2';
import { VmSshServer } from '../runtime/synthetic/vm-ssh-server';
import type { ExecEnd, ExecRequest, ExecSink } from './exec-process';
import { SshConnections, type SshConnectionsOptions } from './ssh-connections';
import { SshExecutor } from './ssh-exec';

const HOST_KEY = generateKeyPairSync('ec', {
  namedCurve: 'prime256v1',
  privateKeyEncoding: { type: 'sec1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

const VM_UID = '4d1c9a7e-3b2f-4e6a-8c5d-000000000001';

/** A listener on 127.0.0.1 for one VM's port 22 that can drop or stall every connection it accepted. */
class Port22 {
  readonly sockets = new Set<Socket>();
  private readonly server: NetServer;

  constructor(serve: (socket: Socket) => void) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      serve(socket);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** The VM's sshd goes away under its clients. */
  dropAll(): void {
    this.sockets.forEach((socket) => socket.destroy());
  }

  /** The VM hangs: nothing it is sent is read, so nothing is answered. */
  stallAll(): void {
    this.sockets.forEach((socket) => socket.pause());
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A bare SSH server for the faults VmSshServer does not stage: it answers every `exec` with `ran <command>` and exit
 * status 0, can refuse the next session opens, and counts connections and keepalives.
 */
class FakeSshd {
  connections = 0;
  keepalives = 0;
  refuseNextSessions = 0;
  sessionsRefused = 0;
  private readonly server: SshServer;

  constructor() {
    this.server = new SshServer(
      {
        hostKeys: [HOST_KEY],
        // ssh2 answers `keepalive@openssh.com` itself (with a failure, as sshd does) and tells only its debug log.
        debug: (line: string) => {
          if (line.includes('GLOBAL_REQUEST (keepalive@openssh.com)')) {
            this.keepalives++;
          }
        },
      },
      (connection) => this.accept(connection),
    );
  }

  handle(socket: Socket): void {
    this.server.injectSocket(socket);
  }

  private accept(connection: Connection): void {
    this.connections++;
    connection.on('error', () => undefined);
    connection.on('authentication', (ctx) => ctx.accept());
    connection.on('ready', () => {
      connection.on('session', (accept, reject) => {
        if (this.refuseNextSessions > 0) {
          this.refuseNextSessions--;
          this.sessionsRefused++;
          reject();
          return;
        }
        accept().on('exec', (acceptExec, _rejectExec, info) => {
          const channel = acceptExec();
          channel.write(`ran ${info.command}\n`);
          channel.exit(0);
          channel.end();
        });
      });
    });
  }
}

interface Result {
  stdout: string;
  stderr: string;
  end: ExecEnd;
}

describe('SshExecutor over pooled SSH connections', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const lines: string[] = [];
  let serial = 0;

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
    lines.length = 0;
  });

  async function listen(serve: (socket: Socket) => void): Promise<{ port22: Port22; port: number }> {
    const port22 = new Port22(serve);
    const port = await port22.listen();
    cleanups.push(() => port22.close());
    return { port22, port };
  }

  function executor(port: number, options: Partial<SshConnectionsOptions> = {}) {
    const connections = new SshConnections({
      connectVm: (_vmUid, _port, signal) =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1');
          signal.addEventListener('abort', () => socket.destroy(new Error('timed out')), { once: true });
          socket.once('connect', () => resolve(socket)).once('error', reject);
        }),
      setupTimeoutMs: 2_000,
      keepaliveMs: 30_000,
      log: (line) => lines.push(line),
      ...options,
    });
    cleanups.push(() => connections.close());
    return { connections, ssh: new SshExecutor(connections) };
  }

  /** Runs `argv` to its end and collects what it wrote. */
  async function run(ssh: SshExecutor, argv: string[]): Promise<Result> {
    const request: ExecRequest = {
      session: `s${++serial}`,
      vmUid: VM_UID,
      argv,
      interactive: false,
      tty: false,
      rows: 0,
      cols: 0,
      env: {},
      workdir: '',
      username: 'admin',
      password: 'admin',
    };
    const out = { stdout: '', stderr: '' };
    let ended: (end: ExecEnd) => void = () => undefined;
    const end = new Promise<ExecEnd>((resolve) => (ended = resolve));
    const sink: ExecSink = {
      started: () => undefined,
      output: (stream, data) => {
        out[stream] += data.toString();
        return true;
      },
      onDrain: () => undefined,
      end: (outcome) => ended(outcome),
    };
    await ssh.start(request, sink, new AbortController().signal);
    const outcome = await end;
    return { ...out, end: outcome };
  }

  describe('against the synthetic VM’s sshd (10 sessions per connection)', () => {
    let home: string;
    let vm: VmSshServer;
    let port22: Port22;
    let port: number;

    beforeEach(async () => {
      home = mkdtempSync(join(tmpdir(), 'grove-ssh-exec-'));
      vm = new VmSshServer({ hostKey: HOST_KEY, credentials: { username: 'ci', password: 'secret' }, home });
      cleanups.push(() => {
        vm.close();
        rmSync(home, { recursive: true, force: true });
      });
      ({ port22, port } = await listen((socket) => vm.handle(socket)));
    });

    it('runs 32 commands at once on ceil(32/10) = 4 connections, and closes them once idle', async () => {
      const { connections, ssh } = executor(port, { idleCloseMs: 200, setupTimeoutMs: 10_000 });
      // Every command waits until all 32 run at once, so the server's limit is met for certain.
      const results = Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          run(ssh, ['sh', '-c', `while [ ! -e go ]; do sleep 0.1; done; echo ${i}; echo e${i} >&2`]),
        ),
      );
      await waitFor('32 sessions to be open at once', () => vm.stats.openSessions === 32, 20_000);
      writeFileSync(join(home, 'go'), '');
      (await results).forEach((result, i) =>
        expect(result).toEqual({ stdout: `${i}\n`, stderr: `e${i}\n`, end: { code: 0 } }),
      );
      expect(vm.stats.connections).toBe(4);
      expect(vm.stats.refusedSessions).toBeGreaterThan(0);
      expect(connections.size).toBe(4);
      await waitFor('the idle connections to close', () => connections.size === 0);
    });

    it('waits for a free session when the VM has all the connections it may have', async () => {
      const { ssh } = executor(port, { maxConnectionsPerVm: 1 });
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => run(ssh, ['echo', String(i)])));
      results.forEach((result, i) => expect(result).toEqual({ stdout: `${i}\n`, stderr: '', end: { code: 0 } }));
      expect(vm.stats.connections).toBe(1);
    });

    it('dials afresh when the server dropped the connection, noticed or not (Orchard: recreates after disconnect)', async () => {
      const { connections, ssh } = executor(port);
      expect((await run(ssh, ['echo', 'one'])).stdout).toBe('one\n');

      // Not noticed yet: the session open goes out on the dead connection, which is then replaced.
      port22.dropAll();
      expect(await run(ssh, ['echo', 'two'])).toEqual({ stdout: 'two\n', stderr: '', end: { code: 0 } });
      expect(vm.stats.connections).toBe(2);
      expect(lines.filter((line) => line.includes('was gone when a session was opened'))).toHaveLength(1);

      // Noticed: the pool has forgotten it, and the next exec dials.
      port22.dropAll();
      await waitFor('the pool to notice', () => connections.size === 0);
      expect(await run(ssh, ['echo', 'three'])).toEqual({ stdout: 'three\n', stderr: '', end: { code: 0 } });
      expect(vm.stats.connections).toBe(3);
    });
  });

  describe('against a server staging faults', () => {
    let sshd: FakeSshd;
    let port22: Port22;
    let port: number;

    beforeEach(async () => {
      sshd = new FakeSshd();
      ({ port22, port } = await listen((socket) => sshd.handle(socket)));
    });

    it('keeps a healthy connection whose server refused one session (Orchard: keeps client after rejection)', async () => {
      const { connections, ssh } = executor(port);
      sshd.refuseNextSessions = 1;
      expect(await run(ssh, ['echo', 'one'])).toEqual({ stdout: 'ran echo one\n', stderr: '', end: { code: 0 } });
      expect(await run(ssh, ['echo', 'two'])).toEqual({ stdout: 'ran echo two\n', stderr: '', end: { code: 0 } });
      expect(sshd.sessionsRefused).toBe(1);
      expect(sshd.connections).toBe(1);
      expect(connections.size).toBe(1);
    });

    it('gives up on a server that refuses every session, without dropping the connection', async () => {
      const { connections, ssh } = executor(port);
      sshd.refuseNextSessions = 100;
      await expect(run(ssh, ['true'])).rejects.toThrow(/^failed to start the command over SSH: .*Channel open failure/);
      expect(sshd.sessionsRefused).toBe(2);
      expect(sshd.connections).toBe(1);
      expect(connections.size).toBe(1);
    });

    it('sends keepalive@openssh.com at the configured interval (Orchard: shared client sends keepalives)', async () => {
      const { ssh } = executor(port, { keepaliveMs: 10 });
      await run(ssh, ['true']);
      await waitFor('keepalives', () => sshd.keepalives >= 3);
      expect(sshd.connections).toBe(1);
    });

    it('drops a connection whose keepalives go unanswered, and dials a new one for the next exec', async () => {
      const { connections, ssh } = executor(port, { keepaliveMs: 50 });
      await run(ssh, ['true']);
      port22.stallAll();
      await waitFor('the stalled connection to be dropped', () => connections.size === 0);
      expect(lines.some((line) => line.includes('Keepalive timeout'))).toBe(true);
      expect(await run(ssh, ['echo', 'after'])).toEqual({ stdout: 'ran echo after\n', stderr: '', end: { code: 0 } });
      expect(sshd.connections).toBe(2);
    });
  });
});
