import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cli, json, useFakeController } from './test-support/fake-controller';

const VM = {
  name: 'a',
  createdAt: '2026-01-01T11:59:00Z',
  image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest',
  status: 'pending',
  restart_policy: 'Never',
  restart_count: 0,
  worker: '',
};

describe('grove (in-process, against a fake controller)', () => {
  const t = useFakeController();

  describe('create vm', () => {
    it('sends every flag in the request body', async () => {
      t.fake.route = (req, res) => json(res, 200, { ...VM, ...(req.body as object) });
      const script = join(t.home.dir, 'setup.sh');
      writeFileSync(script, 'echo hello\n');

      const result = await cli(
        t.env,
        'create',
        'vm',
        'builder-1',
        '--image',
        'ghcr.io/org/img:1',
        '--image-pull-policy',
        'Always',
        '--os',
        'linux',
        '--arch',
        'amd64',
        '--runtime',
        'tart',
        '--cpu',
        '8',
        '--memory',
        '16384',
        '--disk-size',
        '100',
        '--net-softnet',
        '--net-softnet-allow',
        '10.0.0.0/8,192.168.0.0/16',
        '--net-softnet-allow',
        '172.16.0.0/12',
        '--net-softnet-block',
        '1.1.1.1/32',
        '--net-bridged',
        'en0',
        '--no-headless',
        '--nested',
        '--suspendable',
        '--username',
        'ci',
        '--password',
        'pw',
        '--resources',
        'org.cirruslabs.tart-vms=1,gpu=2',
        '--resources',
        'disk=3',
        '--labels',
        'pool=ios',
        '--labels',
        'zone=a,tier=fast',
        '--random-serial',
        '--restart-policy',
        'OnFailure',
        '--startup-script',
        `@${script}`,
        '--host-dirs',
        'src:/Users/ci/src:ro,cache:/opt/cache',
        '--host-dirs',
        'web:https://example.com/a.tar.gz',
        '-o',
        'json',
      );

      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(t.fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/vms']);
      expect(t.fake.requests[0].authorization).toBe(`Basic ${Buffer.from('admin:secret').toString('base64')}`);
      expect(t.fake.requests[0].body).toEqual({
        name: 'builder-1',
        image: 'ghcr.io/org/img:1',
        imagePullPolicy: 'Always',
        os: 'linux',
        arch: 'amd64',
        runtime: 'tart',
        cpu: 8,
        memory: 16384,
        diskSize: 100,
        netSoftnet: true,
        netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12'],
        netSoftnetBlock: ['1.1.1.1/32'],
        'net-bridged': 'en0',
        headless: false,
        nested: true,
        suspendable: true,
        username: 'ci',
        password: 'pw',
        resources: { 'org.cirruslabs.tart-vms': 1, gpu: 2, disk: 3 },
        labels: { pool: 'ios', zone: 'a', tier: 'fast' },
        randomSerial: true,
        restart_policy: 'OnFailure',
        startup_script: { script_content: 'echo hello\n' },
        hostDirs: [
          { name: 'src', path: '/Users/ci/src', ro: true },
          { name: 'cache', path: '/opt/cache', ro: false },
          { name: 'web', path: 'https://example.com/a.tar.gz', ro: false },
        ],
      });
      expect(JSON.parse(result.stdout)).toMatchObject({ name: 'builder-1', status: 'pending' });
    });

    it("sends Orchard's CLI defaults, and warns about a name that breaks the future rule", async () => {
      t.fake.route = (_req, res) => json(res, 200, { ...VM, name: 'Build_1' });

      const result = await cli(t.env, 'create', 'vm', 'Build_1', '--startup-script', 'echo inline');

      expect(result.code).toBe(0);
      expect(t.fake.requests[0].body).toEqual({
        name: 'Build_1',
        image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest',
        imagePullPolicy: 'IfNotPresent',
        os: 'darwin',
        arch: 'arm64',
        runtime: 'tart',
        cpu: 4,
        memory: 8192,
        diskSize: 0,
        netSoftnet: false,
        netSoftnetAllow: [],
        netSoftnetBlock: [],
        headless: true,
        nested: false,
        suspendable: false,
        username: 'admin',
        password: 'admin',
        resources: {},
        labels: {},
        randomSerial: false,
        restart_policy: 'Never',
        startup_script: { script_content: 'echo inline' },
        hostDirs: [],
      });
      expect(result.stderr).toContain('Warning: VM name "Build_1" will not be accepted by a future version');
      expect(result.stdout).toBe('VM "Build_1" created (status pending).\n');
    });

    it('sends audio, clipboard, USB accessories and exposed ports only when asked for (issue 12)', async () => {
      t.fake.route = (req, res) => json(res, 200, { ...VM, ...(req.body as object) });
      const body = async (...flags: string[]) => {
        t.fake.requests.length = 0;
        const result = await cli(t.env, 'create', 'vm', 'a', ...flags);
        expect(result).toMatchObject({ code: 0, stderr: '' });
        return t.fake.requests[0].body as Record<string, unknown>;
      };

      expect(
        await body(
          '--audio',
          '--clipboard',
          '--no-usb-accessories',
          '--net-softnet-expose',
          '2222:22,8080:80',
          '--net-softnet-expose',
          '5900:5900',
        ),
      ).toMatchObject({
        audio: true,
        clipboard: true,
        usbAccessories: false,
        netSoftnetExpose: ['2222:22', '8080:80', '5900:5900'],
      });
      expect(await body('--usb-accessories')).toMatchObject({ usbAccessories: true });
      // Without the flags the body is what older controllers accept.
      const plain = await body();
      for (const field of ['audio', 'clipboard', 'usbAccessories', 'netSoftnetExpose']) {
        expect(plain).not.toHaveProperty(field);
      }
    });

    it('sends --endpoint NAME:PROTO:VMPORT[:WORKERPORT|:MIN-MAX] as endpoints, only when given', async () => {
      t.fake.route = (req, res) => json(res, 200, { ...VM, ...(req.body as object) });
      const result = await cli(
        t.env,
        'create',
        'vm',
        'a',
        '--endpoint',
        'web:tcp:80',
        '--endpoint',
        'ssh:tcp:22:2222',
        '--endpoint',
        'dns:udp:53:5300-5399',
      );
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect((t.fake.requests[0].body as Record<string, unknown>).endpoints).toEqual([
        { name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } },
        { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 2222, max: 2222 } },
        { name: 'dns', protocol: 'udp', target: { vm: { port: 53 } }, workerPortRange: { min: 5300, max: 5399 } },
      ]);
      t.fake.requests.length = 0;
      await cli(t.env, 'create', 'vm', 'b');
      expect(t.fake.requests[0].body).not.toHaveProperty('endpoints');
    });

    it('explains --endpoint in --help, with an example', async () => {
      const result = await cli(t.env, 'create', 'vm', '--help');
      expect(result.stdout).toContain('--endpoint <name:proto:vmport[:min-max]>');
      expect(result.stdout).toMatch(/expose VM port VMPORT on a port of its\s+worker/);
      expect(result.stdout).toContain(
        'grove create vm svc-1 --endpoint ssh:tcp:22:2222 --endpoint dns:udp:53:5300-5399',
      );
    });

    it('explains the new flags in --help', async () => {
      const result = await cli(t.env, 'create', 'vm', '--help');
      expect(result.stdout).toContain('--audio');
      expect(result.stdout).toContain('pass audio through to the worker (off by default');
      expect(result.stdout).toContain('--clipboard');
      expect(result.stdout).toContain('--usb-accessories');
      expect(result.stdout).toContain('--no-usb-accessories');
      expect(result.stdout).toContain('--net-softnet-expose <external:internal>');
      expect(result.stdout).toMatch(/forward worker port EXTERNAL to guest port\s+INTERNAL through Softnet/);
    });

    it.each([
      [
        ['--os', 'windows'],
        "Error: option '--os <os>' argument 'windows' is invalid. Allowed choices are darwin, linux.",
      ],
      [['--restart-policy', 'never'], "argument 'never' is invalid. Allowed choices are Never, OnFailure."],
      [['--cpu', 'four'], "Error: option '--cpu <count>' argument 'four' is invalid. expected a non-negative integer."],
      [['--memory', '-1'], "option '--memory <mib>' argument '-1' is invalid"],
      [['--resources', 'gpu'], 'Error: invalid pair "gpu": expected key=value'],
      [['--resources', 'gpu=lots'], 'Error: invalid resource "gpu=lots": the amount must be a non-negative integer'],
      [['--host-dirs', 'nopath'], 'Error: invalid host directory "nopath": expected name:path[:ro]'],
      [['--startup-script', '@'], 'Error: --startup-script "@" needs a file name after the @'],
      [
        ['--net-softnet-expose', '2222'],
        'Error: --net-softnet-expose: "2222" must be EXTERNAL:INTERNAL with both ports between 1 and 65535',
      ],
      [
        ['--net-softnet-expose', '2222:22,2222:23'],
        'Error: --net-softnet-expose: external port 2222 is exposed more than once',
      ],
      [
        ['--endpoint', 'ssh:22'],
        'Error: --endpoint "ssh:22": expected NAME:PROTO:VMPORT[:WORKERPORT|:MIN-MAX] with PROTO tcp or udp',
      ],
      [['--endpoint', 'ssh:sctp:22'], 'Error: --endpoint "ssh:sctp:22": expected NAME:PROTO:VMPORT'],
      [['--endpoint', 'ssh:tcp:22:2000-'], 'Error: --endpoint "ssh:tcp:22:2000-": expected'],
      [
        ['--endpoint', 'ssh:tcp:0'],
        'Error: --endpoint: endpoints[0].target.vm.port must be a port between 1 and 65535',
      ],
      [
        ['--endpoint', 'a:tcp:1', '--endpoint', 'a:udp:2:3000-2000'],
        'Error: --endpoint: endpoints[1].name endpoint "a" is declared more than once; endpoints[1].workerPortRange min 3000 must not exceed max 2000',
      ],
      [['-o', 'xml'], 'Allowed choices are table, json, yaml.'],
    ])('rejects %j as a usage error (exit 2) without calling the controller', async (flags, message) => {
      const result = await cli(t.env, 'create', 'vm', 'a', ...flags);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(t.fake.requests).toEqual([]);
    });

    it('fails (exit 1) when the startup script file cannot be read', async () => {
      const result = await cli(t.env, 'create', 'vm', 'a', '--startup-script', '@/nonexistent/setup.sh');
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Error: cannot read the startup script /nonexistent/setup.sh: ENOENT');
    });
  });

  describe('usage errors', () => {
    it.each([
      [['create', 'vm'], "Error: missing required argument 'name'"],
      [['get', 'vm', 'a', 'b'], "Error: too many arguments for 'vm'"],
      [['frobnicate'], "Error: unknown command 'frobnicate'"],
      [['list', 'vms', '--bogus'], "Error: unknown option '--bogus'"],
      [['logs', 'vm', 'a', '--tail', '0'], 'expected a positive integer'],
      [['set', 'cluster-settings'], 'Error: nothing to set: give --host-dir-policies and/or --scheduler-profile'],
      [
        ['set', 'cluster-settings', '--scheduler-profile', 'random'],
        'Allowed choices are optimize-utilization, distribute-load.',
      ],
      [['create', 'service-account', 'ci', '--roles', 'compute:read,root'], 'unknown role "root"'],
      [['controller', 'run', '--tls-cert', 'a.pem'], 'Error: --tls-cert and --tls-key must be given together'],
    ])('%j exits 2 with a clear message', async (args, message) => {
      const result = await cli(t.env, ...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(t.fake.requests).toEqual([]);
    });

    it('prints help and the version with exit 0', async () => {
      const help = await cli(t.env, '--help');
      const version = await cli(t.env, '--version');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: grove [options] [command]');
      const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
      expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    });
  });

  it('says how to configure a controller when there is no context', async () => {
    const result = await cli({ GROVE_HOME: t.home.dir }, 'list', 'vms');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'Error: no context configured: run "grove context create <controller URL>" (or set GROVE_URL and the ' +
        'GROVE_SERVICE_ACCOUNT_NAME / GROVE_SERVICE_ACCOUNT_TOKEN variables)\n',
    );
  });

  it('prints API errors with every field error and exits 1', async () => {
    t.fake.route = (_req, res) =>
      json(res, 400, {
        message: 'invalid input',
        errors: [
          { field: 'name', message: 'contains restricted characters' },
          { field: 'image', message: 'must not be empty' },
        ],
      });
    const result = await cli(t.env, 'create', 'vm', 'a%b', '--image', '');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'Error: controller answered 400: invalid input\n  name: contains restricted characters\n  image: must not be empty\n',
    );
  });

  it('shows audio, clipboard, USB accessories, exposed ports and worker capabilities (issue 12)', async () => {
    t.fake.route = (req, res) =>
      req.url === '/v1/workers/mac-1'
        ? json(res, 200, {
            name: 'mac-1',
            last_seen: '2026-01-01T11:59:00Z',
            createdAt: '2026-01-01T11:59:00Z',
            labels: { 'org.cirruslabs.orchard.worker-name': 'mac-1' },
            capabilities: ['vm-exposed-ports'],
          })
        : json(res, 200, {
            ...VM,
            audio: true,
            clipboard: false,
            usbAccessories: false,
            netSoftnetExpose: ['2222:22', '8080:80'],
          });
    const vm = await cli(t.env, 'get', 'vm', 'a');
    expect(vm.stdout).toMatch(/Audio:\s+true\n/);
    expect(vm.stdout).toMatch(/Endpoints:\s+-\n/);
    expect(vm.stdout).toMatch(/Clipboard:\s+false\n/);
    expect(vm.stdout).toMatch(/USB accessories:\s+false\n/);
    expect(vm.stdout).toMatch(/Exposed ports:\s+2222:22, 8080:80\n/);
    const worker = await cli(t.env, 'get', 'worker', 'mac-1');
    expect(worker.stdout).toMatch(/Capabilities:\s+vm-exposed-ports\n/);
    expect(worker.stdout).toMatch(/Labels:\s+org\.cirruslabs\.orchard\.worker-name=mac-1\n/);

    // What a controller that predates these fields sends.
    t.fake.route = (_req, res) => json(res, 200, VM);
    const old = await cli(t.env, 'get', 'vm', 'a');
    expect(old.stdout).toMatch(/Audio:\s+false\n/);
    expect(old.stdout).toMatch(/USB accessories:\s+Tart's default\n/);
    expect(old.stdout).toMatch(/Exposed ports:\s+-\n/);
  });

  it('shows endpoints and observed endpoints (issue 12)', async () => {
    t.fake.route = (_req, res) =>
      json(res, 200, {
        ...VM,
        endpoints: [
          { name: 'ssh', protocol: 'tcp', target: { vm: { port: 22 } }, workerPortRange: { min: 2222, max: 2222 } },
          { name: 'dns', protocol: 'udp', target: { vm: { port: 53 } }, workerPortRange: { min: 5300, max: 5399 } },
          { name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } },
        ],
        observedEndpoints: [
          { name: 'ssh', protocol: 'tcp', workerPort: 2222, state: 'listening' },
          { name: 'dns', protocol: 'udp', state: 'error', message: 'address in use' },
        ],
      });
    const vm = await cli(t.env, 'get', 'vm', 'a');
    expect(vm.stdout).toMatch(
      /Endpoints:\s+ssh tcp 22 ← worker port 2222, dns udp 53 ← worker port 5300-5399, web tcp 80 ← worker port any\n/,
    );
    expect(vm.stdout).toMatch(/Observed endpoints:\s+ssh listening on worker port 2222, dns error: address in use\n/);
  });

  it('lists VMs as a table and as YAML', async () => {
    t.fake.route = (_req, res) => json(res, 200, [{ ...VM, worker: 'mac-1' }]);
    const table = await cli(t.env, 'list', 'vms');
    const yaml = await cli(t.env, 'list', 'vms', '-o', 'yaml');
    expect(table.stdout).toBe(
      'NAME  CREATED  IMAGE                                       STATUS   RESTART-POLICY      WORKER\n' +
        'a     1m ago   ghcr.io/cirruslabs/macos-tahoe-base:latest  pending  Never (0 restarts)  mac-1\n',
    );
    expect(parse(yaml.stdout)).toEqual([{ ...VM, worker: 'mac-1' }]);
  });

  it('creates a service account and shows its token once', async () => {
    t.fake.route = (req, res) =>
      json(res, 200, { ...(req.body as object), createdAt: '2026-01-01T12:00:00Z', token: 'generated-token' });
    const result = await cli(
      t.env,
      'create',
      'service-account',
      'ci',
      '--roles',
      'compute:read,compute:write',
      '--roles',
      'admin:read',
    );
    expect(t.fake.requests[0].body).toEqual({ name: 'ci', roles: ['compute:read', 'compute:write', 'admin:read'] });
    expect(result.stdout).toBe(
      'Service account "ci" created with roles compute:read, compute:write, admin:read.\n' +
        'Token: generated-token\n' +
        'Bootstrap token for workers: grove-bootstrap-token-v0.Y2k.Z2VuZXJhdGVkLXRva2Vu\n' +
        'Store the token now: it is not shown again.\n',
    );
  });

  it('prints no bootstrap token for an account that cannot run workers', async () => {
    t.fake.route = (req, res) =>
      json(res, 200, { ...(req.body as object), createdAt: '2026-01-01T12:00:00Z', token: 'generated-token' });
    const result = await cli(t.env, 'create', 'service-account', 'viewer', '--roles', 'compute:read');
    expect(result.stdout).toBe(
      'Service account "viewer" created with roles compute:read.\n' +
        'Token: generated-token\n' +
        'Store the token now: it is not shown again.\n',
    );
  });

  it('prints log lines oldest first, the last N with --tail', async () => {
    const events = [1, 2, 3, 4, 5].map((i) => ({ kind: 'log_line', timestamp: i, payload: `line ${i}` }));
    t.fake.route = (req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.searchParams.get('order') === 'desc') {
        json(
          res,
          200,
          events
            .slice()
            .reverse()
            .slice(0, Number(url.searchParams.get('limit'))),
        );
        return;
      }
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = events.slice(start, start + 2);
      json(res, 200, page, start + 2 < events.length ? { 'x-next-cursor': String(start + 2) } : {});
    };
    // allEvents uses pages of 1000; the fake serves 2 per page to make the CLI follow the cursors.
    const tail = await cli(t.env, 'logs', 'vm', 'a', '--tail', '3');
    const all = await cli(t.env, 'logs', 'vm', 'a');
    expect(t.fake.requests[0].url).toBe('/v1/vms/a/events?limit=3&order=desc');
    expect(tail.stdout).toBe('line 3\nline 4\nline 5\n');
    expect(all.stdout).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect(t.fake.requests.length).toBe(4);
  });

  it('pauses a worker with a sparse update and reports VMs still on it after --wait', async () => {
    t.fake.route = (req, res) => {
      if (req.url.startsWith('/v1/vms')) {
        json(res, 200, [
          { ...VM, name: 'busy', worker: 'mac-1', status: 'running' },
          { ...VM, name: 'dead', worker: 'mac-1', status: 'failed' },
        ]);
      } else {
        json(res, 200, { name: 'mac-1', scheduling_paused: req.method === 'PUT' });
      }
    };
    const result = await cli(t.env, 'pause', 'worker', 'mac-1', '--wait', '0');
    expect(t.fake.requests.slice(0, 3).map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/workers/mac-1',
      'PUT /v1/workers/mac-1',
      'GET /v1/vms?filter=worker%3Dmac-1',
    ]);
    expect(t.fake.requests[1].body).toEqual({ name: 'mac-1', scheduling_paused: true });
    expect(result.stdout).toBe('Worker "mac-1" paused: no new VMs will be scheduled on it.\n');
    expect(result.stderr).toBe('Error: worker "mac-1" still has 1 VM(s) after 0 s: busy\n');
    expect(result.code).toBe(1);
  });

  it('resumes a worker', async () => {
    const result = await cli(t.env, 'resume', 'worker', 'mac-1');
    expect(t.fake.requests[1]).toMatchObject({ method: 'PUT', body: { name: 'mac-1', scheduling_paused: false } });
    expect(result.stdout).toBe('Worker "mac-1" resumed: VMs can be scheduled on it again.\n');
  });

  it('appends host-directory policies to the existing ones', async () => {
    t.fake.route = (req, res) =>
      json(
        res,
        200,
        req.method === 'GET'
          ? { hostDirPolicies: [{ pathPrefix: '/old' }], schedulerProfile: 'optimize-utilization' }
          : req.body,
      );
    const result = await cli(t.env, 'set', 'cluster-settings', '--host-dir-policies', '/src:ro,/cache', '-o', 'json');
    expect(t.fake.requests[1].body).toEqual({
      hostDirPolicies: [{ pathPrefix: '/old' }, { pathPrefix: '/src', ro: true }, { pathPrefix: '/cache', ro: false }],
      schedulerProfile: 'optimize-utilization',
    });
    expect(result.code).toBe(0);
  });

  describe('contexts', () => {
    const contextEnv = (): Record<string, string> => ({ GROVE_HOME: t.home.dir });

    it('checks the credentials, saves the first context as default, and refuses to overwrite without --force', async () => {
      const args = [
        'context',
        'create',
        t.fake.url,
        '--service-account-name',
        'admin',
        '--service-account-token',
        'secret',
      ];

      const first = await cli(contextEnv(), ...args);
      const again = await cli(contextEnv(), ...args);
      const forced = await cli(contextEnv(), ...args, '--force');

      expect(first).toEqual({
        code: 0,
        stdout: `Context "default" created for ${t.fake.url} (default).\n`,
        stderr: '',
      });
      expect(t.fake.requests[0]).toMatchObject({
        method: 'GET',
        url: '/v1/controller/info',
        authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}`,
      });
      expect(again.code).toBe(1);
      expect(again.stderr).toBe('Error: context "default" already exists; add --force to replace it\n');
      expect(forced.code).toBe(0);
      expect(parse(readFileSync(join(t.home.dir, 'config.yml'), 'utf8'))).toEqual({
        'default-context': 'default',
        contexts: { default: { url: t.fake.url, serviceAccountName: 'admin', serviceAccountToken: 'secret' } },
      });
    });

    it('does not save a context whose credentials the controller refuses', async () => {
      t.fake.route = (_req, res) => json(res, 401, { message: 'invalid service account name or token' });
      const result = await cli(
        contextEnv(),
        'context',
        'create',
        t.fake.url,
        '--service-account-name',
        'admin',
        '--service-account-token',
        'wrong',
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `Error: the controller at ${t.fake.url} refused service account "admin" (controller answered 401: invalid ` +
          'service account name or token); the context was not created\n',
      );
      expect(existsSync(join(t.home.dir, 'config.yml'))).toBe(false);
    });

    it('asks for missing credentials only on a terminal', async () => {
      const result = await cli(contextEnv(), 'context', 'create', t.fake.url, '--service-account-name', 'admin');
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'Error: missing --service-account-token (stdin is not a terminal, so it cannot be asked for)\n',
      );
    });

    it('lists, switches and deletes contexts; deleting the default picks another', async () => {
      for (const name of ['prod', 'lab']) {
        await cli(
          contextEnv(),
          'context',
          'create',
          t.fake.url,
          '--name',
          name,
          '--service-account-name',
          'a',
          '--service-account-token',
          'b',
        );
      }
      const listed = await cli(contextEnv(), 'context', 'list');
      const switched = await cli(contextEnv(), 'context', 'default', 'lab');
      const unknown = await cli(contextEnv(), 'context', 'default', 'nope');
      const deleted = await cli(contextEnv(), 'context', 'delete', 'lab');
      const after = await cli(contextEnv(), 'context', 'list');

      expect(listed.stdout).toBe(
        `NAME  URL${' '.repeat(t.fake.url.length - 1)}DEFAULT\nlab   ${t.fake.url}\nprod  ${t.fake.url}  *\n`,
      );
      expect(switched.stdout).toBe('Default context is now "lab".\n');
      expect(unknown).toMatchObject({
        code: 1,
        stderr: 'Error: context "nope" does not exist (known contexts: lab, prod)\n',
      });
      expect(deleted.stdout).toBe('Context "lab" deleted; the default context is now "prod".\n');
      expect(after.stdout).toBe(`NAME  URL${' '.repeat(t.fake.url.length - 1)}DEFAULT\nprod  ${t.fake.url}  *\n`);
    });

    it('uses the context chosen with --context', async () => {
      await cli(
        contextEnv(),
        'context',
        'create',
        t.fake.url,
        '--name',
        'one',
        '--service-account-name',
        'x',
        '--service-account-token',
        'y',
      );
      t.fake.requests.length = 0;
      t.fake.route = (_req, res) => json(res, 200, []);
      const missing = await cli(contextEnv(), '--context', 'two', 'list', 'workers');
      const used = await cli(contextEnv(), 'list', 'workers', '--context', 'one');
      expect(missing.stderr).toBe('Error: context "two" does not exist (known contexts: one)\n');
      expect(used.stdout).toBe('NAME  LAST-SEEN  SCHEDULING-PAUSED  SESSION\n');
      expect(t.fake.requests[0].authorization).toBe(`Basic ${Buffer.from('x:y').toString('base64')}`);
    });
  });
});
