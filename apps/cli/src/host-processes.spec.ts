import { connect } from 'node:net';
import type { HostProcess } from '@grove/resources';
import { cli, echo, json, startCli, useFakeController, type RunningCli } from './test-support/fake-controller';

// VM host processes in the CLI (issue 12, orchard-2026.md §1.2.3): grove create vm --host-process and
// --host-process-env, grove get vm, grove port-forward vm --host-process.

const VM = {
  name: 'a',
  createdAt: '2026-01-01T11:59:00Z',
  image: 'img',
  status: 'running',
  restart_policy: 'Never',
  restart_count: 0,
  worker: 'mac-1',
};

const PROXY = {
  name: 'proxy',
  program: '/usr/bin/socat',
  args: ['UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork', 'TCP:127.0.0.1:80'],
};

/** Connects to a local port, sends `text`, and resolves with what came back once as many bytes did. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length >= text.length) {
        socket.end();
        resolve(received);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after "${received}"`)));
    socket.write(text);
  });
}

async function forwardedPort(run: RunningCli): Promise<number> {
  const match = await run.waitForOutput(/Forwarding 127\.0\.0\.1:(\d+) -> /);
  return Number(match[1]);
}

describe('host processes in the CLI (in-process, against a fake controller)', () => {
  const t = useFakeController();

  describe('grove create vm --host-process / --host-process-env', () => {
    it('splits each command into program and args like a shell, expanding nothing, and attaches env by name', async () => {
      t.fake.route = (req, res) => json(res, 200, { ...VM, ...(req.body as object) });
      const result = await cli(
        t.env,
        'create',
        'vm',
        'a',
        '--host-process',
        'proxy=/usr/bin/socat UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork TCP:127.0.0.1:80',
        '--host-process',
        `agent:1=  "/opt/my agent/run" --greeting 'hello, world' it\\'s "$HOME" ''`,
        '--host-process',
        'bare=true',
        '--host-process-env',
        'proxy:LOG_LEVEL=debug',
        '--host-process-env',
        'agent:1:TOKEN=a=b:c',
        '--host-process-env',
        'agent:1:EMPTY=',
        // A key that is also a property of every object is just a key.
        '--host-process-env',
        'bare:constructor=ok',
      );
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect((t.fake.requests[0].body as Record<string, unknown>).hostProcesses).toEqual<HostProcess[]>([
        { ...PROXY, env: { LOG_LEVEL: 'debug' } },
        {
          name: 'agent:1',
          program: '/opt/my agent/run',
          args: ['--greeting', 'hello, world', "it's", '$HOME', ''],
          env: { TOKEN: 'a=b:c', EMPTY: '' },
        },
        { name: 'bare', program: 'true', env: { constructor: 'ok' } },
      ]);
    });

    it('sends no hostProcesses without the flag, so that controllers that predate them still create VMs', async () => {
      t.fake.route = (req, res) => json(res, 200, { ...VM, ...(req.body as object) });
      expect(await cli(t.env, 'create', 'vm', 'a')).toMatchObject({ code: 0 });
      expect(t.fake.requests[0].body).not.toHaveProperty('hostProcesses');
    });

    it('explains both flags in --help, with an example that single-quotes the placeholders', async () => {
      const { stdout } = await cli(t.env, 'create', 'vm', '--help');
      expect(stdout).toContain('--host-process <name=command>');
      expect(stdout).toMatch(/it must listen on the Unix socket\s+\$ORCHARD_PROCESS_SOCKET/);
      expect(stdout).toMatch(/so single-quote the whole value to keep your shell's hands off\s+them/);
      expect(stdout).toContain('--host-process-env <name:key=value>');
      expect(stdout).toContain(
        "grove create vm web-2 --host-process 'proxy=/usr/bin/socat UNIX-LISTEN:${ORCHARD_PROCESS_SOCKET},fork " +
          "TCP:127.0.0.1:3128' --host-process-env proxy:LOG_LEVEL=debug",
      );
    });

    it.each([
      [['--host-process', 'proxy'], `Error: --host-process "proxy": expected NAME=PROGRAM [ARG...]`],
      [['--host-process', 'proxy=  '], 'Error: --host-process "proxy=  ": expected NAME=PROGRAM [ARG...]'],
      [
        ['--host-process', "proxy=socat 'UNIX-LISTEN"],
        `Error: --host-process "proxy=socat 'UNIX-LISTEN": cannot split "socat 'UNIX-LISTEN" into words: the single ` +
          'quote at character 7 is not closed',
      ],
      [['--host-process', 'proxy=socat a | tee log'], '"|" at character 9 would be shell syntax'],
      [['--host-process', 'bad name=x'], 'Error: --host-process: hostProcesses[0].name contains restricted characters'],
      [['--host-process', "p=''"], 'Error: --host-process: hostProcesses[0].program must not be empty'],
      [
        ['--host-process', 'p=a', '--host-process', 'p=b'],
        'Error: --host-process: hostProcesses[1].name host process "p" is declared more than once',
      ],
      [['--host-process-env', 'p:K=V'], 'Error: --host-process-env "p:K=V": no --host-process is named "p"'],
      [
        ['--host-process', 'p=a', '--host-process-env', 'q:K=V'],
        'Error: --host-process-env "q:K=V": no --host-process is named "q" (there is "p")',
      ],
      [
        ['--host-process', 'p=a', '--host-process-env', 'p:K'],
        'Error: --host-process-env "p:K": expected NAME:KEY=VALUE',
      ],
      [
        ['--host-process', 'p=a', '--host-process-env', 'p:1X=V'],
        'Error: --host-process-env: hostProcesses[0].env.1X is not a valid environment variable name',
      ],
      [
        ['--host-process', 'p=a', '--host-process-env', 'p:K=1', '--host-process-env', 'p:K=2'],
        'Error: --host-process-env "p:K=2": K of host process "p" is given twice',
      ],
    ])(
      'rejects %j as a usage error (exit 2) naming the flag, without calling the controller',
      async (flags, message) => {
        const result = await cli(t.env, 'create', 'vm', 'a', ...flags);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(message);
        expect(t.fake.requests).toEqual([]);
      },
    );
  });

  describe('grove get vm', () => {
    it('shows each host process with its command and only the names of its env, and the ready condition', async () => {
      t.fake.route = (_req, res) =>
        json(res, 200, {
          ...VM,
          hostProcesses: [
            { ...PROXY, env: { LOG_LEVEL: 'debug', TOKEN: 's3cret-value' } },
            { name: 'agent', program: '/opt/my agent/run', args: ["it's"] },
          ],
          conditions: [
            { type: 'running', state: 'true' },
            { type: 'host-processes-ready', state: 'false' },
          ],
        });
      const { stdout } = await cli(t.env, 'get', 'vm', 'a');
      expect(stdout).toMatch(
        /Host processes:\s+proxy: \/usr\/bin\/socat UNIX-LISTEN:\$\{ORCHARD_PROCESS_SOCKET\},fork TCP:127\.0\.0\.1:80 \(env LOG_LEVEL, TOKEN\); agent: '\/opt\/my agent\/run' 'it'\\''s'\n/,
      );
      expect(stdout).toMatch(/Host processes ready:\s+false\n/);
      expect(stdout).not.toContain('s3cret-value');
    });

    it('shows dashes for a VM without host processes', async () => {
      t.fake.route = (_req, res) => json(res, 200, VM);
      const { stdout } = await cli(t.env, 'get', 'vm', 'a');
      expect(stdout).toMatch(/Host processes:\s+-\n/);
      expect(stdout).toMatch(/Host processes ready:\s+-\n/);
    });
  });

  describe('grove port-forward vm NAME [LOCAL] --host-process PROC', () => {
    it('checks that the VM declares the process, then forwards every connection to it', async () => {
      t.fake.route = (_req, res) => json(res, 200, { ...VM, hostProcesses: [PROXY] });
      t.fake.upgrade = () => echo;
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '--host-process', 'proxy', '--wait', '5']);
      const port = await forwardedPort(run);
      expect(await roundTrip(port, 'hello')).toBe('hello');
      expect(await roundTrip(port, 'again')).toBe('again');
      run.interrupt();
      expect(await run.result).toEqual({
        code: 0,
        stdout: `Forwarding 127.0.0.1:${port} -> vm/a, host process "proxy"; press Ctrl-C to stop\n`,
        stderr: '',
      });
      expect(t.fake.requests.map((r) => r.url)).toEqual([
        '/v1/vms/a',
        '/v1/vms/a/port-forward?hostProcess=proxy&wait=5',
        '/v1/vms/a/port-forward?hostProcess=proxy&wait=5',
      ]);
    });

    it("reports the controller's refusal of a connection on stderr, naming the host process", async () => {
      // An account that may connect but not read skips the check; the controller then refuses each tunnel.
      t.fake.route = (_req, res) => json(res, 403, { message: 'this service account lacks the compute:read role' });
      t.fake.upgrade = () => ({
        status: 403,
        body: { message: 'this service account lacks the host-process:connect role' },
      });
      const run = startCli(t.env, ['port-forward', 'vm', 'a', '0', '--host-process', 'proxy']);
      const port = await forwardedPort(run);
      const socket = connect(port, '127.0.0.1');
      socket.resume();
      await run.waitForOutput(/connection 1: VM "a" host process "proxy": .*host-process:connect/);
      socket.destroy();
      run.interrupt();
      expect((await run.result).code).toBe(0);
    });

    it('fails at once when the VM does not declare the host process', async () => {
      t.fake.route = (_req, res) => json(res, 200, { ...VM, hostProcesses: [PROXY] });
      const result = await cli(t.env, 'port-forward', 'vm', 'a', '--host-process', 'nope');
      expect(result).toMatchObject({
        code: 1,
        stderr: 'Error: host process "nope" is not declared on VM "a" (it has "proxy")\n',
      });
      t.fake.route = (_req, res) => json(res, 200, VM);
      expect((await cli(t.env, 'port-forward', 'vm', 'a', '--host-process', 'nope')).stderr).toBe(
        'Error: host process "nope" is not declared on VM "a" (it has none)\n',
      );
      expect(t.fake.requests.map((r) => r.url)).toEqual(['/v1/vms/a', '/v1/vms/a']);
    });

    it.each([
      [
        ['8080:80', '--host-process', 'proxy'],
        "Error: command-argument value '8080:80' is invalid for argument '[local:]remote'. With --host-process it is " +
          'the LOCAL port only, a number from 0 to 65535.',
      ],
      [
        ['--host-process', 'proxy', '--target', 'tart-guest-agent'],
        "Error: option '--host-process <name>' cannot be used with option '--target <target>'",
      ],
      [['--host-process'], "Error: option '--host-process <name>' argument missing"],
    ])('rejects %j as a usage error', async (args, message) => {
      const result = await cli(t.env, 'port-forward', 'vm', 'a', ...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(t.fake.requests).toEqual([]);
    });

    it('explains --host-process in --help', async () => {
      const { stdout } = await cli(t.env, 'port-forward', 'vm', '--help');
      expect(stdout).toContain('--host-process <name>');
      expect(stdout).toMatch(/needs the role\s+host-process:connect/);
      expect(stdout).toContain('grove port-forward vm web-2 3128 --host-process proxy');
    });
  });
});
