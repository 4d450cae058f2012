import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { WebSocket } from 'ws';
import { tunnelRefusal } from '@grove/client';
import { freePort } from '@grove/testing';
import { bridgeTo, startFakeSshServer, type FakeSshServer } from '../test-support/fake-ssh-server';
import { cli, echo, json, startCli, useFakeController, type RunningCli } from '../test-support/fake-controller';
import { waitUntil } from '../test-support/wait-until';

const VM = {
  name: 'a',
  createdAt: '2026-01-01T11:59:00Z',
  image: 'img',
  status: 'running',
  restart_policy: 'Never',
  restart_count: 0,
  worker: 'mac-1',
  username: '',
  password: '',
};

/** Connects to a local port, sends `data`, and resolves with as many bytes as came back, then closes. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= data.length) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${received} of ${data.length} bytes`)));
    socket.write(data);
  });
}

/** Resolves with how the forwarder ended a local connection: its error code (ECONNRESET: a reset), or `end`. */
function closedByPeer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let how = 'end';
    socket.once('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    socket.resume();
    socket.once('close', () => resolve(how));
  });
}

async function forwardedPort(run: RunningCli): Promise<number> {
  const match = await run.waitForOutput(/Forwarding 127\.0\.0\.1:(\d+) -> /);
  return Number(match[1]);
}

describe('connecting to VMs (in-process, against a fake controller)', () => {
  const t = useFakeController();

  describe('port-forward', () => {
    it('checks the VM, then relays the bytes of every connection through its own tunnel until Ctrl-C', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '0:7', '--wait', '5']);
      const port = await forwardedPort(run);
      const payloads = [randomBytes(300_000), Buffer.from('hello'), randomBytes(70_000)];

      const echoed = await Promise.all(payloads.map((data) => roundTrip(port, data)));
      run.interrupt();
      const result = await run.result;

      expect(echoed).toEqual(payloads);
      expect(result).toEqual({
        code: 0,
        stdout: `Forwarding 127.0.0.1:${port} -> vm/a:7; press Ctrl-C to stop\n`,
        stderr: '',
      });
      const urls = t.fake.requests.map((r) => `${r.method} ${r.url}`);
      expect(urls[0]).toBe('GET /v1/vms/a');
      expect(urls.slice(1)).toEqual(Array(3).fill('GET /v1/vms/a/port-forward?port=7&wait=5'));
      // Grove's raw tunnel protocol for every connection (this fake controller speaks it).
      expect(t.fake.requests.slice(1).map((r) => r.protocol)).toEqual(Array(3).fill('grove-tunnel/1'));
      expect(t.fake.requests[1].authorization).toBe(`Basic ${Buffer.from('admin:secret').toString('base64')}`);
    });

    it("forwards a local port to the VM's Tart guest agent with --target", async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '--target', 'tart-guest-agent']);
      const port = await forwardedPort(run);
      expect(await roundTrip(port, Buffer.from('PRI * HTTP/2.0'))).toEqual(Buffer.from('PRI * HTTP/2.0'));
      run.interrupt();
      expect(await run.result).toEqual({
        code: 0,
        stdout: `Forwarding 127.0.0.1:${port} -> vm/a:tart-guest-agent; press Ctrl-C to stop\n`,
        stderr: '',
      });
      expect(t.fake.requests.map((r) => r.url)).toEqual([
        '/v1/vms/a',
        '/v1/vms/a/port-forward?target=tart-guest-agent&wait=60',
      ]);
    });

    it('listens on the asked local port and forwards to a worker', async () => {
      const port = await freePort();
      t.fake.route = (_req, res) => json(res, 200, { name: 'mac-1' });
      t.fake.upgrade = () => echo;

      const run = startCli(t.env, ['port-forward', 'worker', 'mac-1', `${port}:5900`]);
      expect(await forwardedPort(run)).toBe(port);
      expect(await roundTrip(port, Buffer.from('ping'))).toEqual(Buffer.from('ping'));
      run.interrupt();

      expect((await run.result).code).toBe(0);
      expect(t.fake.requests.map((r) => r.url)).toEqual([
        '/v1/workers/mac-1',
        '/v1/workers/mac-1/port-forward?port=5900&wait=60',
      ]);
    });

    it('fails at once, before listening, when the VM does not exist', async () => {
      t.fake.route = (_req, res) => json(res, 404, { message: 'VM "nope" not found' });
      const result = await cli(t.env, 'port-forward', 'vm', 'nope', '8080:80');
      expect(result).toEqual({ code: 1, stdout: '', stderr: 'Error: controller answered 404: VM "nope" not found\n' });
      expect(t.fake.requests.map((r) => r.url)).toEqual(['/v1/vms/nope']);
    });

    it('reports a connection the controller refuses or the worker cannot complete, and keeps listening', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => {
        const n = t.fake.requests.length - 1;
        if (n === 1) {
          return { status: 408, body: { message: 'VM "a" did not start running within 5 s' } };
        }
        if (n === 2) {
          return {
            raw: (socket) => socket.end(tunnelRefusal('cannot connect to port 80 of VM "a": connection refused')),
          };
        }
        return echo;
      };
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '80']);
      const port = await forwardedPort(run);

      // A tunnel that failed is a reset for the local program, never an empty answer that looks complete (issue 11).
      expect(await closedByPeer(connect(port, '127.0.0.1'))).toBe('ECONNRESET');
      expect(await closedByPeer(connect(port, '127.0.0.1'))).toBe('ECONNRESET');
      const third = await roundTrip(port, Buffer.from('still here'));
      run.interrupt();
      const result = await run.result;

      expect(third.toString()).toBe('still here');
      expect(result.code).toBe(0);
      expect(result.stderr).toBe(
        'connection 1: VM "a" port 80: controller answered 408: VM "a" did not start running within 5 s\n' +
          'connection 2: VM "a" port 80: cannot connect to port 80 of VM "a": connection refused\n',
      );
    });

    it('falls back to WebSockets when the controller does not know the raw protocol (400)', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      // A WebSocket handler other than `echo`: the fake refuses the raw upgrade as an older controller does.
      t.fake.upgrade = () => (ws: WebSocket) => echo(ws);
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '0:7', '--wait', '5']);
      const port = await forwardedPort(run);
      expect(await roundTrip(port, Buffer.from('one'))).toEqual(Buffer.from('one'));
      expect(await roundTrip(port, Buffer.from('two'))).toEqual(Buffer.from('two'));
      run.interrupt();
      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      // Found out once: the first connection's raw upgrade, then WebSockets only.
      expect(t.fake.requests.slice(1).map((r) => `${r.protocol} ${r.url}`)).toEqual([
        'grove-tunnel/1 /v1/vms/a/port-forward?port=7&wait=5',
        'websocket /v1/vms/a/port-forward?port=7&wait=5',
        'websocket /v1/vms/a/port-forward?port=7&wait=5',
      ]);
    });

    // Over WebSockets (the fake refuses the raw upgrade when it answers with a WebSocket first message): portForward()
    // resolves after the socket's 'open' event, and `ws` would emit the messages that came in the same read as the
    // handshake's answer before the caller can listen, so they are lost (an SSH server's banner, when the controller
    // sends it right after the 101); the client pauses the socket in its 'open' handler and createWebSocketStream
    // resumes it on its first read.
    it('delivers the bytes a far end sends first over a WebSocket, in the same read as the handshake', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => ({ firstMessage: Buffer.from('SSH-2.0-banner\r\n') });
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '22']);
      try {
        const socket = connect(await forwardedPort(run), '127.0.0.1');
        const first = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('nothing arrived within 0.5 s')), 500);
          socket.once('data', (data: Buffer) => {
            clearTimeout(timer);
            resolve(data.toString());
          });
        });
        socket.destroy();
        expect(first).toBe('SSH-2.0-banner\r\n');
      } finally {
        run.interrupt();
        await run.result;
      }
    });

    it('cuts open connections on Ctrl-C and exits 0', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '22']);
      const port = await forwardedPort(run);
      const socket = connect(port, '127.0.0.1');
      const closed = closedByPeer(socket);
      await roundTrip(port, Buffer.from('x'));
      run.interrupt();
      expect(await closed).toBe('ECONNRESET');
      expect((await run.result).code).toBe(0);
    });

    it('skips the check when the account may only connect (403 on reading the VM)', async () => {
      t.fake.route = (_req, res) => json(res, 403, { message: 'this service account lacks the compute:read role' });
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '7']);
      const port = await forwardedPort(run);
      expect(await roundTrip(port, Buffer.from('ok'))).toEqual(Buffer.from('ok'));
      run.interrupt();
      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
    });

    it.each([
      [['vm', 'a', '1:2:3'], 'expected REMOTE or LOCAL:REMOTE, got 3 parts'],
      [['vm', 'a', '0'], 'REMOTE port "0" is not a number from 1 to 65535'],
      [['worker', 'w', 'x:22'], 'LOCAL port "x" is not a number from 0 to 65535'],
      [['vm', 'a', '22', '--wait', '-1'], "option '-w, --wait <seconds>' argument '-1' is invalid"],
      [['vm', 'a'], "Error: missing required argument '[local:]remote' (or --target, or --host-process)"],
      [
        ['vm', 'a', '0:22', '--target', 'tart-guest-agent'],
        "Error: command-argument value '0:22' is invalid for argument '[local:]remote'. With --target it is the LOCAL " +
          'port only, a number from 0 to 65535.',
      ],
      [['vm', 'a', '--target', 'ssh'], "option '--target <target>' argument 'ssh' is invalid"],
    ])('rejects port-forward %j as a usage error naming the argument', async (args, message) => {
      const result = await cli(t.env, 'port-forward', ...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(t.fake.requests).toEqual([]);
    });

    it('says why it cannot listen', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      const busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      const port = (busy.address() as AddressInfo).port;
      const result = await cli(t.env, 'port-forward', 'vm', 'a', `${port}:22`);
      await new Promise<void>((resolve) => busy.close(() => resolve()));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Error: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
    });
  });

  describe('vnc', () => {
    it("prints the vnc:// URL with the VM's credentials and forwards to port 5900", async () => {
      t.fake.route = (_req, res) => json(res, 200, { ...VM, username: 'ci', password: 'p@ss:word' });
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['vnc', 'vm', 'a', '--no-open']);
      const match = await run.waitForOutput(/vnc:\/\/ci:p%40ss%3Aword@127\.0\.0\.1:(\d+)\n/);
      expect(await roundTrip(Number(match[1]), Buffer.from('RFB'))).toEqual(Buffer.from('RFB'));
      run.interrupt();
      const result = await run.result;
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        `Forwarding 127.0.0.1:${match[1]} -> vm/a:5900; press Ctrl-C to stop\n` +
          `vnc://ci:p%40ss%3Aword@127.0.0.1:${match[1]}\n`,
      );
      expect(t.fake.requests[1].url).toBe('/v1/vms/a/port-forward?port=5900&wait=60');
    });

    it('puts only the given credentials into the URL of a worker', async () => {
      t.fake.route = (_req, res) => json(res, 200, { name: 'mac-1' });
      const bare = startCli(t.env, ['vnc', 'worker', 'mac-1', '--no-open']);
      await bare.waitForOutput(/vnc:\/\/127\.0\.0\.1:\d+\n/);
      bare.interrupt();
      const withLogin = startCli(t.env, ['vnc', 'worker', 'mac-1', '--no-open', '-u', 'admin', '-p', 'pw']);
      await withLogin.waitForOutput(/vnc:\/\/admin:pw@127\.0\.0\.1:\d+\n/);
      withLogin.interrupt();
      expect((await bare.result).code).toBe(0);
      expect((await withLogin.result).code).toBe(0);
    });
  });

  describe('ip', () => {
    it("prints the VM's address, waiting as asked", async () => {
      t.fake.route = (_req, res) => json(res, 200, { ip: '192.168.64.7' });
      const result = await cli(t.env, 'ip', 'vm', 'a', '--wait', '30');
      const quick = await cli(t.env, 'ip', 'vm', 'a');
      expect(result).toEqual({ code: 0, stdout: '192.168.64.7\n', stderr: '' });
      expect(quick.code).toBe(0);
      expect(t.fake.requests.map((r) => r.url)).toEqual(['/v1/vms/a/ip?wait=30', '/v1/vms/a/ip?wait=0']);
    });
  });

  describe('ssh', () => {
    let sshd: FakeSshServer;

    beforeEach(async () => {
      sshd = await startFakeSshServer({ username: 'ci', password: 'vm-secret' });
      t.fake.route = (_req, res) => json(res, 200, VM);
      t.fake.upgrade = () => bridgeTo(sshd.port);
    });

    afterEach(() => sshd.close());

    it('runs a command and prints its output, as admin/admin for a VM without credentials', async () => {
      const result = await startCli(t.env, ['ssh', 'vm', 'a', 'echo', 'hi']).result;
      expect(result).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
      expect(sshd.sessions).toEqual([{ username: 'admin', command: 'echo hi', windowChanges: [] }]);
      expect(t.fake.requests.map((r) => r.url)).toEqual(['/v1/vms/a', '/v1/vms/a/port-forward?port=22&wait=60']);
    });

    it('exits with the remote exit status, 128+N for a signal', async () => {
      const three = await startCli(t.env, ['ssh', 'vm', 'a', 'exit 3']).result;
      const killed = await startCli(t.env, ['ssh', 'vm', 'a', 'kill']).result;
      const failing = await startCli(t.env, ['ssh', 'vm', 'a', 'stderr']).result;
      expect(three).toEqual({ code: 3, stdout: '', stderr: '' });
      expect(killed.code).toBe(143);
      expect(failing).toEqual({ code: 1, stdout: '', stderr: 'oops\n' });
    });

    it('pipes stdin to the command and sends EOF when it ends (sh -s < script)', async () => {
      const script = 'echo one\necho two\n'.repeat(2000);
      const stdin = new PassThrough();
      const run = startCli(t.env, ['ssh', 'vm', 'a', '--wait', '10', 'sh', '-s'], { stdin });
      stdin.end(script);
      const result = await run.result;
      expect(result).toEqual({ code: 0, stdout: script, stderr: '' });
      expect(sshd.sessions[0]).toMatchObject({ command: 'sh -s' });
      expect(sshd.sessions[0].pty).toBeUndefined();
    });

    it("logs in with the VM's credentials, or the flags", async () => {
      t.fake.route = (_req, res) => json(res, 200, { ...VM, username: 'ci', password: 'vm-secret' });
      const vmLogin = await startCli(t.env, ['ssh', 'vm', 'a', 'echo', 'hi']).result;
      const flagLogin = await startCli(t.env, ['ssh', 'vm', '-u', 'admin', 'a', '-p', 'admin', 'echo', 'hi']).result;
      expect([vmLogin.code, flagLogin.code]).toEqual([0, 0]);
      expect(sshd.sessions.map((s) => s.username)).toEqual(['ci', 'admin']);
    });

    it('logs in as admin/admin when the account may not read the VM', async () => {
      t.fake.route = (_req, res) => json(res, 403, { message: 'this service account lacks the compute:read role' });
      const result = await startCli(t.env, ['ssh', 'vm', 'a', 'echo', 'hi']).result;
      expect(result).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
      expect(sshd.sessions[0].username).toBe('admin');
    });

    it('passes the words after the first non-option untouched, and asks for a PTY with -t', async () => {
      const result = await startCli(t.env, ['ssh', 'vm', 'a', '-t', 'ls', '-la', '-u', 'x', '--context', 'c']).result;
      expect(result.code).toBe(127);
      expect(sshd.sessions[0]).toMatchObject({
        username: 'admin',
        command: 'ls -la -u x --context c',
        pty: { term: 'xterm-256color', rows: 24, cols: 80 },
      });
    });

    it('runs a shell without a PTY when stdin is not a terminal', async () => {
      const stdin = new PassThrough();
      const run = startCli({ ...t.env, TERM: 'vt100' }, ['ssh', 'vm', 'a'], { stdin });
      stdin.end('echo from a pipe\n');
      expect(await run.result).toEqual({ code: 0, stdout: 'echo from a pipe\n', stderr: '' });
      expect(sshd.sessions[0].pty).toBeUndefined();
    });

    it('exits 255 when the login fails, the VM is unknown, or the tunnel cannot reach port 22', async () => {
      const badLogin = await startCli(t.env, ['ssh', 'vm', 'a', '-p', 'wrong', 'echo', 'hi']).result;
      t.fake.upgrade = () => (ws: WebSocket) => ws.close(1011, 'cannot connect to port 22 of VM "a": refused');
      const refused = await startCli(t.env, ['ssh', 'vm', 'a', 'echo', 'hi']).result;
      t.fake.route = (_req, res) => json(res, 404, { message: 'VM "a" not found' });
      const unknown = await startCli(t.env, ['ssh', 'vm', 'a', 'echo', 'hi']).result;

      expect(badLogin.code).toBe(255);
      expect(badLogin.stderr).toMatch(/^Error: SSH login to VM "a" as "admin" failed: All configured authentication/);
      expect(refused).toEqual({
        code: 255,
        stdout: '',
        stderr: 'Error: cannot reach VM "a" port 22: cannot connect to port 22 of VM "a": refused\n',
      });
      expect(unknown).toEqual({ code: 255, stdout: '', stderr: 'Error: controller answered 404: VM "a" not found\n' });
    });

    it('exits 255 with the reason when the tunnel breaks during the session', async () => {
      const tunnels: WebSocket[] = [];
      t.fake.upgrade = () => (ws: WebSocket) => {
        tunnels.push(ws);
        bridgeTo(sshd.port)(ws);
      };
      const run = startCli(t.env, ['ssh', 'vm', 'a', 'hang']);
      await waitUntil(() => sshd.sessions[0]?.command === 'hang');
      tunnels[0].close(1011, 'the worker lost VM "a"');
      expect(await run.result).toEqual({
        code: 255,
        stdout: '',
        stderr: 'Error: the tunnel to VM "a" broke: the worker lost VM "a"\n',
      });
    });

    it('exits 255 when the session ends without an exit status', async () => {
      const result = await startCli(t.env, ['ssh', 'vm', 'a', 'vanish']).result;
      expect(result).toEqual({
        code: 255,
        stdout: '',
        stderr: 'Error: the remote side closed the session without an exit status\n',
      });
    });
  });
});
