import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient, fetchPeerCertificate } from '@grove/client';
import { decodeBootstrapToken } from '@grove/resources';
import { parse } from 'yaml';
import { waitFor } from '@grove/testing';
import { expectSuccess, runGrove, type GroveResult } from './test-support/cli-process';
import { CLI_MAIN } from './test-support/paths';
import {
  adminClient,
  BOOTSTRAP_ADMIN,
  controllerAnswers,
  type ControllerProcess,
  startController,
} from './test-support/controller-process';

jest.setTimeout(120_000);

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

describe('grove CLI against a controller over plain HTTP', () => {
  let controller: ControllerProcess;
  let home: string;
  let admin: GroveClient;

  const grove = (...args: string[]): Promise<GroveResult> => runGrove(args, { home });

  beforeAll(async () => {
    controller = await startController();
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-home-'));
    admin = adminClient(controller);
    expectSuccess(
      await grove(
        'context',
        'create',
        controller.url,
        '--service-account-name',
        BOOTSTRAP_ADMIN,
        '--service-account-token',
        controller.adminToken,
      ),
    );
  });

  afterAll(async () => {
    admin?.close();
    await controller?.stop();
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('saved the bootstrap-admin context as the default, readable only by the user', async () => {
    const path = join(home, 'config.yml');
    const config = parse(readFileSync(path, 'utf8'));

    expect(config).toEqual({
      'default-context': 'default',
      contexts: {
        default: {
          url: controller.url,
          serviceAccountName: BOOTSTRAP_ADMIN,
          serviceAccountToken: controller.adminToken,
        },
      },
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const list = await grove('context', 'list');
    expect(list.stdout).toMatch(
      new RegExp(`^NAME +URL +DEFAULT\ndefault +${controller.url.replace(/\./g, '\\.')} +\\*\n$`),
    );
  });

  it('refuses to create a context with a wrong token, and saves nothing', async () => {
    const result = await grove(
      'context',
      'create',
      controller.url,
      '--name',
      'wrong',
      '--service-account-name',
      BOOTSTRAP_ADMIN,
      '--service-account-token',
      'not-the-token',
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `Error: the controller at ${controller.url} refused service account "${BOOTSTRAP_ADMIN}"`,
    );
    expect(result.stderr).toContain('controller answered 401');
    expect(parse(readFileSync(join(home, 'config.yml'), 'utf8')).contexts).not.toHaveProperty('wrong');
  });

  it('sets and shows cluster settings, appending host-directory policies', async () => {
    expectSuccess(
      await grove(
        'set',
        'cluster-settings',
        '--host-dir-policies',
        '/srv/e2e:ro',
        '--scheduler-profile',
        'distribute-load',
      ),
    );
    expectSuccess(await grove('set', 'cluster-settings', '--host-dir-policies', '/tmp/cache'));

    const json = await grove('get', 'cluster-settings', '-o', 'json');
    const human = await grove('get', 'cluster-settings');

    expectSuccess(json);
    expect(JSON.parse(json.stdout)).toMatchObject({
      hostDirPolicies: [
        { pathPrefix: '/srv/e2e', ro: true },
        { pathPrefix: '/tmp/cache', ro: false },
      ],
      schedulerProfile: 'distribute-load',
    });
    expect(human.stdout).toContain('Scheduler profile:  distribute-load');
    expect(human.stdout).toMatch(/\/srv\/e2e +true/);
  });

  it('creates a VM with many flags, shows it, lists it and deletes it', async () => {
    await admin.clusterSettings.set({
      ...(await admin.clusterSettings.get()),
      hostDirPolicies: [{ pathPrefix: '/srv/e2e', ro: true }],
    });
    const name = unique('vm');
    const created = await grove(
      'create',
      'vm',
      name,
      '--image',
      'ghcr.io/cirruslabs/macos-sequoia-base:latest',
      '--image-pull-policy',
      'Always',
      '--cpu',
      '6',
      '--memory',
      '12288',
      '--disk-size',
      '80',
      '--net-softnet-allow',
      '10.0.0.0/8,192.168.0.0/16',
      '--net-softnet-block',
      '1.1.1.1/32',
      '--no-headless',
      '--nested',
      '--username',
      'ci',
      '--password',
      'secret',
      '--resources',
      'gpu=1',
      '--labels',
      'pool=e2e,zone=a',
      '--random-serial',
      '--restart-policy',
      'OnFailure',
      '--startup-script',
      'echo hello',
      '--host-dirs',
      'src:/srv/e2e/src:ro',
    );
    expectSuccess(created);
    expect(created.stdout).toBe(`VM "${name}" created (status pending).\n`);

    const shown = await grove('get', 'vm', name, '-o', 'json');
    expectSuccess(shown);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      name,
      image: 'ghcr.io/cirruslabs/macos-sequoia-base:latest',
      imagePullPolicy: 'Always',
      os: 'darwin',
      arch: 'arm64',
      runtime: 'tart',
      cpu: 6,
      memory: 12288,
      diskSize: 80,
      netSoftnet: true,
      'net-softnet': true,
      netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'],
      netSoftnetBlock: ['1.1.1.1/32'],
      headless: false,
      nested: true,
      suspendable: false,
      username: 'ci',
      password: 'secret',
      resources: { gpu: 1, 'org.cirruslabs.tart-vms': 1 },
      labels: { pool: 'e2e', zone: 'a' },
      randomSerial: true,
      restart_policy: 'OnFailure',
      startup_script: { script_content: 'echo hello' },
      hostDirs: [{ name: 'src', path: '/srv/e2e/src', ro: true }],
      status: 'pending',
      powerState: 'running',
    });

    const list = await grove('list', 'vms');
    expectSuccess(list);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +CREATED +IMAGE +STATUS +RESTART-POLICY +WORKER$/);
    expect(lines.find((l) => l.startsWith(`${name} `))).toMatch(
      new RegExp(
        `^${name} +\\d+[smhd] ago +ghcr\\.io/cirruslabs/macos-sequoia-base:latest +pending +OnFailure \\(0 restarts\\) +`,
      ),
    );

    const deleted = await grove('delete', 'vm', name);
    expect(deleted).toMatchObject({ code: 0, stdout: `VM "${name}" deleted.\n` });
    const gone = await grove('get', 'vm', name);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^Error: controller answered 404: /);
  });

  it('reports a VM the controller refuses, with its field errors', async () => {
    const result = await grove('create', 'vm', unique('vm'), '--host-dirs', 'etc:/etc');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error: controller answered 400: /);
    expect(result.stderr).toContain('disallowed by policy');
  });

  it('creates a service account whose printed token works, with exactly its roles', async () => {
    const name = unique('sa');
    const created = await grove('create', 'service-account', name, '--roles', 'compute:read');
    expectSuccess(created);
    expect(created.stdout).toContain(`Service account "${name}" created with roles compute:read.`);
    expect(created.stdout).toContain('Store the token now: it is not shown again.');
    const token = /^Token: (\S+)$/m.exec(created.stdout)?.[1];
    expect(token).toBeDefined();

    const env = { GROVE_SERVICE_ACCOUNT_NAME: name, GROVE_SERVICE_ACCOUNT_TOKEN: token as string };
    const listed = await runGrove(['list', 'vms'], { home, env });
    const denied = await runGrove(['create', 'vm', unique('vm')], { home, env });
    const shown = await grove('get', 'service-account', name, '-o', 'json');
    const accounts = await grove('list', 'service-accounts');

    expectSuccess(listed);
    expect(listed.stdout).toMatch(/^NAME +CREATED +IMAGE/);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toBe(
      'Error: controller answered 403: all of the following roles must be present: compute:write\n',
    );
    expect(JSON.parse(shown.stdout)).toMatchObject({ name, roles: ['compute:read'] });
    expect(JSON.parse(shown.stdout)).not.toHaveProperty('token');
    expect(accounts.stdout).toMatch(new RegExp(`^${name} +compute:read +\\d+s ago$`, 'm'));
  });

  describe('get bootstrap-token', () => {
    const clientFor = (token: string): GroveClient => {
      const decoded = decodeBootstrapToken(token);
      return new GroveClient({
        url: controller.url,
        serviceAccountName: decoded.serviceAccountName,
        serviceAccountToken: decoded.serviceAccountToken,
      });
    };

    it('builds a token from --token that decodes to the account and lets a client authenticate', async () => {
      const name = unique('workers');
      const account = await admin.serviceAccounts.create({ name, roles: ['compute:read', 'compute:write'] });
      const result = await grove('get', 'bootstrap-token', name, '--token', account.token as string);

      expectSuccess(result);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^grove-bootstrap-token-v0\.[A-Za-z0-9_.-]+\n$/);
      expect(decodeBootstrapToken(result.stdout)).toEqual({
        serviceAccountName: name,
        serviceAccountToken: account.token,
      });
      // What a worker does first with it: register (needs compute:write).
      const worker = clientFor(result.stdout);
      const workerName = unique('worker');
      try {
        await expect(worker.controllerInfo()).resolves.toMatchObject({ version: expect.any(String) });
        // amd64 and without resources, so that no VM of another test is placed on it.
        await expect(
          worker.workers.create({ name: workerName, machine_id: unique('machine'), arch: 'amd64', resources: {} }),
        ).resolves.toMatchObject({ name: workerName });
        await admin.workers.delete(workerName);
      } finally {
        worker.close();
      }
    });

    it('prints a working bootstrap token when creating an account that can run workers', async () => {
      const name = unique('workers');
      const created = await grove('create', 'service-account', name, '--roles', 'compute:read,compute:write');
      expectSuccess(created);
      const token = /^Token: (\S+)$/m.exec(created.stdout)?.[1];
      const bootstrap = /^Bootstrap token for workers: (\S+)$/m.exec(created.stdout)?.[1];
      expect(bootstrap).toBeDefined();
      expect(decodeBootstrapToken(bootstrap as string)).toEqual({
        serviceAccountName: name,
        serviceAccountToken: token,
      });
      const worker = clientFor(bootstrap as string);
      try {
        await expect(worker.controllerInfo()).resolves.toMatchObject({ version: expect.any(String) });
      } finally {
        worker.close();
      }
    });

    it('refuses a --token that does not authenticate as the account', async () => {
      const name = unique('workers');
      await admin.serviceAccounts.create({ name, roles: [] });
      const result = await grove('get', 'bootstrap-token', name, '--token', 'not-its-token');
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`does not accept this token for service account "${name}"`);
      expect(result.stderr).toContain('controller answered 401');
    });

    it("uses the context's token for its own account", async () => {
      const result = await grove('get', 'bootstrap-token', BOOTSTRAP_ADMIN);
      expectSuccess(result);
      expect(decodeBootstrapToken(result.stdout)).toEqual({
        serviceAccountName: BOOTSTRAP_ADMIN,
        serviceAccountToken: controller.adminToken,
      });
    });

    it('asks for --token or --rotate for another account', async () => {
      const name = unique('workers');
      await admin.serviceAccounts.create({ name, roles: [] });
      const result = await grove('get', 'bootstrap-token', name);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('--token TOKEN');
      expect(result.stderr).toContain('--rotate');
    });

    it('rotates with --rotate: the new token works, the old one no longer does, the roles stay', async () => {
      const name = unique('workers');
      const account = await admin.serviceAccounts.create({ name, roles: ['compute:read'] });
      const old = new GroveClient({
        url: controller.url,
        serviceAccountName: name,
        serviceAccountToken: account.token,
      });
      await old.controllerInfo();

      const result = await grove('get', 'bootstrap-token', name, '--rotate');

      expectSuccess(result);
      expect(result.stderr).toContain(`Warning: service account "${name}" has a new token`);
      const fresh = clientFor(result.stdout);
      try {
        expect(decodeBootstrapToken(result.stdout).serviceAccountToken).not.toBe(account.token);
        await expect(fresh.controllerInfo()).resolves.toMatchObject({ version: expect.any(String) });
        await expect(fresh.vms.list()).resolves.toEqual(expect.any(Array));
        await expect(old.controllerInfo()).rejects.toMatchObject({ status: 401 });
        await expect(admin.serviceAccounts.get(name)).resolves.toMatchObject({ roles: ['compute:read'] });
      } finally {
        fresh.close();
        old.close();
      }
    });
  });

  it('fails with a clear message when the token is wrong', async () => {
    const result = await runGrove(['list', 'vms'], { home, env: { GROVE_SERVICE_ACCOUNT_TOKEN: 'wrong-token' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Error: controller answered 401: .+\n$/);
    expect(result.stdout).toBe('');
  });

  it('prints VM logs posted by a worker, all of them or the last N', async () => {
    const name = unique('vm');
    await admin.vms.create({ name, image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest' });
    await admin.vms.appendEvents(
      name,
      ['booting', 'running startup script', 'hello from the VM', 'done'].map((payload, i) => ({
        kind: 'log_line' as const,
        timestamp: 1_700_000_000 + i,
        payload,
      })),
    );

    const all = await grove('logs', 'vm', name);
    const tail = await grove('logs', 'vm', name, '--tail', '2');
    const missing = await grove('logs', 'vm', unique('missing'));

    expect(all).toMatchObject({ code: 0, stdout: 'booting\nrunning startup script\nhello from the VM\ndone\n' });
    expect(tail).toMatchObject({ code: 0, stdout: 'hello from the VM\ndone\n' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: controller answered 404/);
  });

  it('pauses and resumes a worker registered through the API, draining it with --wait', async () => {
    const name = unique('worker');
    // amd64, so that VMs of the other tests (arm64) are not placed on it.
    await admin.workers.create({
      name,
      machine_id: unique('machine'),
      arch: 'amd64',
      resources: { 'org.cirruslabs.tart-vms': 2 },
      labels: { pool: 'e2e' },
    });
    const busy = unique('vm');
    await admin.vms.create({ name: busy, image: 'img', arch: 'amd64', labels: { pool: 'e2e' } });
    await waitFor('the scheduler to place the VM', async () => (await admin.vms.get(busy)).worker === name);

    // `pause --wait` returns only once the worker holds no VM that is still alive.
    const draining = grove('pause', 'worker', name, '--wait', '20');
    await waitFor('the pause to take effect', async () => (await admin.workers.get(name)).scheduling_paused);
    await admin.vms.updateState(busy, { ...(await admin.vms.get(busy)), status: 'failed', status_message: 'drained' });
    const drained = await draining;
    expect(drained.code).toBe(0);
    expect(drained.stdout).toContain(`Waiting for 1 VM(s) to leave worker "${name}": ${busy}`);
    expect(drained.stdout).toContain(`Worker "${name}" has no VMs left.`);

    const paused = await grove('pause', 'worker', name, '--wait', '5');
    const afterPause = await admin.workers.get(name);
    const shown = await grove('get', 'worker', name, '-o', 'json');
    const listed = await grove('list', 'workers');
    const resumed = await grove('resume', 'worker', name);
    const afterResume = await admin.workers.get(name);
    const unknown = await grove('pause', 'worker', unique('nobody'));

    expect(paused).toMatchObject({
      code: 0,
      stdout: `Worker "${name}" paused: no new VMs will be scheduled on it.\nWorker "${name}" has no VMs left.\n`,
    });
    expect(afterPause.scheduling_paused).toBe(true);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name, scheduling_paused: true, labels: { pool: 'e2e' } });
    expect(listed.stdout).toMatch(new RegExp(`^${name} +\\d+s ago +true +-$`, 'm'));
    expect(resumed).toMatchObject({ code: 0, stdout: `Worker "${name}" resumed: VMs can be scheduled on it again.\n` });
    expect(afterResume.scheduling_paused).toBe(false);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^Error: controller answered 404/);

    const deleted = await grove('delete', 'worker', name);
    expect(deleted).toMatchObject({ code: 0, stdout: `Worker "${name}" deleted.\n` });
  });
});

describe('grove CLI against a controller with its self-signed certificate', () => {
  let controller: ControllerProcess;
  let home: string;

  beforeAll(async () => {
    controller = await startController({ tls: true });
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-home-'));
  });

  afterAll(async () => {
    await controller?.stop();
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  const credentials = (): string[] => [
    '--service-account-name',
    BOOTSTRAP_ADMIN,
    '--service-account-token',
    controller.adminToken,
  ];

  it('is refused by a client that trusts only the system authorities', async () => {
    const result = await runGrove(['list', 'vms'], {
      home,
      env: {
        GROVE_URL: controller.url,
        GROVE_SERVICE_ACCOUNT_NAME: BOOTSTRAP_ADMIN,
        GROVE_SERVICE_ACCOUNT_TOKEN: controller.adminToken,
      },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `the controller at ${controller.url} presented a certificate that this system does not trust`,
    );
  });

  it('does not create a context when the fingerprint is not confirmed', async () => {
    const result = await runGrove(['context', 'create', controller.url, '--name', 'declined', ...credentials()], {
      home,
      input: 'no\n',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Are you sure you want to trust it? (yes/no)');
    expect(result.stderr).toContain('Error: the controller certificate was not trusted; the context was not created');
  });

  it('pins the certificate with --yes after printing its fingerprint, and then works', async () => {
    const created = await runGrove(['context', 'create', controller.url, '--yes', ...credentials()], { home });
    expectSuccess(created);

    const peer = await fetchPeerCertificate(controller.url);
    const fingerprint = new X509Certificate(peer.pem).fingerprint256.replace(/:/g, ' ');
    expect(created.stderr).toBe(
      `The authenticity of controller ${controller.url} cannot be established.\n` +
        `Certificate SHA-256 fingerprint is: ${fingerprint}\n`,
    );
    expect(controller.output()).toContain(fingerprint);
    const context = parse(readFileSync(join(home, 'config.yml'), 'utf8')).contexts.default;
    const pinned = Buffer.from(context.certificate, 'base64').toString('utf8');
    expect(new X509Certificate(pinned).raw.equals(peer.der)).toBe(true);

    const vm = unique('vm');
    expectSuccess(await runGrove(['create', 'vm', vm], { home }));
    const listed = await runGrove(['list', 'vms'], { home });
    expect(listed.stdout).toContain(`${vm} `);
  });

  it('embeds the pinned certificate in a bootstrap token, which a client can then use alone', async () => {
    const result = await runGrove(['get', 'bootstrap-token', BOOTSTRAP_ADMIN], { home });
    expectSuccess(result);
    const decoded = decodeBootstrapToken(result.stdout);
    const peer = await fetchPeerCertificate(controller.url);
    expect(decoded.certificatePem).toBeDefined();
    expect(new X509Certificate(decoded.certificatePem as string).raw.equals(peer.der)).toBe(true);
    const client = new GroveClient({
      url: controller.url,
      serviceAccountName: decoded.serviceAccountName,
      serviceAccountToken: decoded.serviceAccountToken,
      certificatePem: decoded.certificatePem,
    });
    try {
      await expect(client.controllerInfo()).resolves.toMatchObject({ version: expect.any(String) });
    } finally {
      client.close();
    }
  });

  it('accepts a confirmation typed on stdin', async () => {
    const result = await runGrove(['context', 'create', controller.url, '--name', 'piped', ...credentials()], {
      home,
      input: 'yes\n',
    });
    expectSuccess(result);
    const listed = await runGrove(['--context', 'piped', 'list', 'workers'], { home });
    expect(listed).toMatchObject({ code: 0, stdout: 'NAME  LAST-SEEN  SCHEDULING-PAUSED  SESSION\n' });
  });
});

describe('grove controller run', () => {
  it('runs the controller with the given flags and stops it when it gets SIGTERM', async () => {
    let controller: ControllerProcess | undefined;
    try {
      controller = await startController({ viaCli: true });
      const client = adminClient(controller);
      await expect(client.controllerInfo()).resolves.toMatchObject({ capabilities: expect.any(Array) });
      client.close();
      expect(controller.output()).toContain(controller.url);

      expect(await controller.stop()).toBe(0);
      expect(await controllerAnswers(controller.url)).toBe(false);
    } finally {
      await controller?.stop();
    }
  });
});

describe('grove worker install --dry-run', () => {
  it('names this node and the built CLI entry by absolute path, and never the token', async () => {
    const home = mkdtempSync(join(tmpdir(), 'grove-e2e-home-'));
    try {
      const token = 'grove-bootstrap-token-v0.d29ya2Vycw.c2VjcmV0LXRva2Vu';
      const result = await runGrove(
        ['worker', 'install', 'controller.example.com', '--bootstrap-token-stdin', '--dry-run'],
        { home, input: `${token}\n` },
      );
      expectSuccess(result);
      expect(result.stdout).toContain(process.execPath);
      expect(result.stdout).toContain(realpathSync(CLI_MAIN));
      expect(result.stdout).toContain('https://controller.example.com:6120');
      expect(result.stdout).not.toContain('c2VjcmV0LXRva2Vu');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
