import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fetchPeerCertificate, GroveClient } from '@grove/client';
import { certificateFingerprint } from '@grove/resources';
import { opensslCertificate, waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN } from '../test-support/controller-process';
import { askpassEnv, makeKeyPair, runOpenSsh, writeAskpass } from '../test-support/openssh-client';
import { sessionCount } from '../test-support/synthetic-worker';
import { ComposeProject, docker, freePorts, report } from './compose-project';
import { loggedFingerprints, Operator, printedAdminToken, servedFingerprint } from './operator';

/**
 * docker/compose.yml as an operator runs it (issue 15): the controller image built from docker/Dockerfile, Postgres,
 * the ports published on this host, and everything else from this host through those ports only: the CLI, a
 * synthetic worker and the stock OpenSSH client. scripts/test-compose.sh starts the Docker daemon and builds the
 * image; this spec owns its compose project from `up` to `down -v`.
 */
describe('docker/compose.yml: one controller on Postgres', () => {
  const project = `grove-deploy-${randomBytes(3).toString('hex')}`;
  const SSH_ACCOUNT = 'deploy-ssh';
  let compose: ComposeProject;
  let operator: Operator;
  let home: string;
  let worker: RunningProcess;
  let adminToken: string;
  let fingerprint: string;
  let sshConfig: string;
  let askpass: string;
  let vmUid: string;

  /** `ssh -F <config> -J deploy-ssh@127.0.0.1:PORT admin@VM …` with the account's key; the VM's password by askpass. */
  const sshThroughGateway = (command: string) =>
    runOpenSsh('ssh', ['-F', sshConfig, '-J', `${SSH_ACCOUNT}@127.0.0.1:${compose.ports.ssh}`, 'admin@v1', command], {
      env: askpassEnv(askpass),
    });

  /** Admin requests pinned to the certificate the context pinned, as the CLI makes them. */
  const adminClient = async (token = adminToken) =>
    new GroveClient({
      url: compose.url,
      serviceAccountName: BOOTSTRAP_ADMIN,
      serviceAccountToken: token,
      certificatePem: (await fetchPeerCertificate(compose.url)).pem,
    });

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-deploy-'));
    operator = new Operator(join(home, 'operator'));
    // Without GROVE_BOOTSTRAP_ADMIN_TOKEN, as in the quick start: the token is the one the first start prints.
    compose = new ComposeProject('compose.yml', project, await freePorts(), {
      GROVE_POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
    });
    const start = Date.now();
    await compose.compose(['up', '-d']);
    await compose.untilHealthy('controller');
    report(`compose.yml: up -d to controller healthy in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    await operator?.stopWorkers();
    await compose?.compose(['down', '-v', '--timeout', '5']).catch((err: Error) => console.error(err.message));
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('serves /v1/ over TLS with the certificate whose fingerprint its log printed', async () => {
    const log = await compose.logs('controller');
    const logged = loggedFingerprints(log);
    expect(logged).toHaveLength(1);
    fingerprint = logged[0];
    expect(await servedFingerprint(compose.url)).toBe(fingerprint);
    const client = await adminClient('not-the-token');
    try {
      // Public, and the certificate pinned from the served one verifies (name grove-controller).
      await expect(client.info()).resolves.toBeDefined();
    } finally {
      client.close();
    }
  });

  it('the bootstrap-admin token printed at the first start works, and another token does not', async () => {
    adminToken = printedAdminToken(await compose.logs('controller'));
    const good = await adminClient();
    const bad = await adminClient(`${adminToken}x`);
    try {
      await expect(good.vms.list()).resolves.toEqual([]);
      await expect(bad.vms.list()).rejects.toMatchObject({ status: 401 });
    } finally {
      good.close();
      bad.close();
    }
    // A user's first command: the context pins the certificate after showing the fingerprint the log printed.
    expect(await operator.login(compose.url, adminToken)).toContain(`fingerprint is: ${fingerprint}`);
  });

  it('serves the web console built into the image at /ui/, and / redirects there', async () => {
    const root = await pinnedGet(`${compose.url}/`, fingerprint);
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('/ui/');
    const page = await pinnedGet(`${compose.url}/ui/`, fingerprint);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const script = /src="([^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const bundle = await pinnedGet(new URL(script ?? '', `${compose.url}/ui/`).href, fingerprint);
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
  });

  it('a synthetic worker on this host joins with a bootstrap token and runs a VM', async () => {
    const admin = await adminClient();
    try {
      // Workers dial the port the controller announces: it must be the published one, not the container's.
      expect((await admin.controllerInfo()).grpcPort).toBe(compose.ports.grpc);
    } finally {
      admin.close();
    }
    worker = await operator.startWorker(compose.url, 'deploy-w1', await operator.workerTokenFile('deploy-workers'));
    await operator.groveOk(['create', 'vm', 'v1', '--image', 'any']);
    const vm = await operator.untilRunning('v1');
    expect(vm.worker).toBe('deploy-w1');
  });

  it('grove exec runs a command in the VM through the published API port', async () => {
    expect(await operator.grove(['exec', 'vm', 'v1', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).toEqual({
      code: 7,
      stdout: 'out\n',
      stderr: 'err\n',
    });
  });

  it('grove port-forward relays TCP to the VM', async () => {
    await operator.echoThroughPortForward('v1');
  });

  it('the SSH gateway on the published port takes the account key to the VM (ssh -J)', async () => {
    const key = makeKeyPair(home, 'id_deploy');
    askpass = writeAskpass(home);
    sshConfig = join(home, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        // The gateway: its host key is learnt now and must be the same after restarts (StrictHostKeyChecking below).
        'Host 127.0.0.1',
        `  UserKnownHostsFile ${join(home, 'known_hosts')}`,
        '  StrictHostKeyChecking accept-new',
        `  IdentityFile ${key}`,
        '  IdentitiesOnly yes',
        '  PreferredAuthentications publickey',
        '  PubkeyAuthentication yes',
        '  LogLevel ERROR',
        // The VM behind it: the synthetic VM's SSH server (admin/admin).
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
    const token = randomBytes(16).toString('hex');
    await operator.groveOk(['create', 'service-account', SSH_ACCOUNT, '--roles', 'compute:connect', '--token', token]);
    await operator.groveOk(['create', 'ssh-key', SSH_ACCOUNT, `${key}.pub`]);
    expect(await sshThroughGateway('uname')).toEqual({ code: 0, stdout: 'Linux\n', stderr: '' });
  });

  it('runs the controller as a non-root user', async () => {
    expect(await compose.inspect('controller', '{{.Config.User}}')).toBe('grove');
    const status = await docker(['exec', await compose.containerId('controller'), 'cat', '/proc/1/status']);
    const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    expect(uid).not.toBeNull();
    expect(uid?.[1]).not.toBe('0');
    expect(uid?.[2]).not.toBe('0');
    report(`controller image: the controller runs as uid ${uid?.[1]} (grove)`);
  });

  /** What must come back after a restart: the VM (same one, running), the accounts, the certificate, the host key. */
  async function expectStateKept(what: string, earlierStarts: number): Promise<void> {
    const sessionsBefore = sessionCount(worker);
    const start = Date.now();
    await compose.untilHealthy('controller');
    report(`compose.yml: ${what}: controller healthy again after ${((Date.now() - start) / 1000).toFixed(1)} s`);

    // Every start prints it; a restarted container's log still holds the earlier starts' lines.
    expect(loggedFingerprints(await compose.logs('controller'))).toEqual(Array(earlierStarts + 1).fill(fingerprint));
    expect(await servedFingerprint(compose.url)).toBe(fingerprint);
    // The context made before still works: same certificate, and the printed token is still bootstrap-admin's.
    const accounts = JSON.parse(await operator.groveOk(['list', 'service-accounts', '-o', 'json'])) as {
      name: string;
    }[];
    expect(accounts.map((a) => a.name).sort()).toEqual([BOOTSTRAP_ADMIN, SSH_ACCOUNT, 'deploy-workers'].sort());

    // The worker finds the controller again by itself; the VM is the same one, and it still runs.
    await waitFor('the worker back in session', () => sessionCount(worker) > sessionsBefore, 60_000, 200);
    const vm = await operator.untilRunning('v1');
    expect(vm.uid).toBe(vmUid);
    expect(vm.restart_count).toBe(0);
    expect(await operator.grove(['exec', 'vm', 'v1', '--', 'echo', 'still here'])).toEqual({
      code: 0,
      stdout: 'still here\n',
      stderr: '',
    });
    // The gateway's host key too: OpenSSH would refuse a changed one for 127.0.0.1 (known_hosts from before).
    expect(await sshThroughGateway('echo hi')).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
  }

  it('keeps everything across docker-compose restart', async () => {
    vmUid = (await operator.vm('v1')).uid;
    await compose.compose(['restart']);
    await expectStateKept('restart', 1);
  });

  it('keeps everything across docker-compose down and up (the volumes)', async () => {
    await compose.compose(['down']);
    await compose.compose(['up', '-d']);
    await expectStateKept('down + up', 0);
  });

  it('stops on SIGTERM by itself, with exit code 0, well before docker-compose stop would kill it', async () => {
    const start = Date.now();
    // -t 10: Docker's default; a controller that did not exit by then would be killed (exit code 137).
    await compose.compose(['stop', '-t', '10', 'controller']);
    const took = Date.now() - start;
    expect(await compose.inspect('controller', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}')).toBe(
      'exited 0 false',
    );
    expect(await compose.logs('controller')).toContain('Received SIGTERM, shutting down...');
    report(`compose.yml: docker-compose stop controller took ${(took / 1000).toFixed(1)} s (exit code 0)`);
  });

  it("a dump taken with the guide's backup command restores the database (controller stopped meanwhile)", async () => {
    await compose.compose(['start', 'controller']);
    await compose.untilHealthy('controller');
    const dump = await compose.compose([
      'exec',
      '-T',
      'postgres',
      'pg_dump',
      '-U',
      'grove',
      '--clean',
      '--if-exists',
      'grove',
    ]);
    await operator.groveOk(['create', 'service-account', 'after-backup', '--roles', 'compute:read']);
    await compose.compose(['stop', 'controller']);
    await compose.compose(
      ['exec', '-T', 'postgres', 'psql', '-q', '-U', 'grove', '-d', 'grove', '-v', 'ON_ERROR_STOP=1'],
      {
        input: dump,
      },
    );
    await compose.compose(['start', 'controller']);
    await compose.untilHealthy('controller');
    const accounts = JSON.parse(await operator.groveOk(['list', 'service-accounts', '-o', 'json'])) as {
      name: string;
    }[];
    // As it was at the dump: the account made after it is gone, the others (and the VM) are there.
    expect(accounts.map((a) => a.name).sort()).toEqual([BOOTSTRAP_ADMIN, SSH_ACCOUNT, 'deploy-workers'].sort());
    expect((await operator.vm('v1')).uid).toBe(vmUid);
  });

  it("serves the operator's own certificate given in an override file, as docs/deployment.md shows", async () => {
    const dir = join(home, 'tls');
    mkdirSync(dir);
    const own = opensslCertificate(dir, 'tls', {
      subjectAltName: 'DNS:grove.example.test,DNS:grove-controller,IP:127.0.0.1',
    });
    // The key readable by the image's user only, as the guide says.
    const uid = Number(await docker(['run', '--rm', '--entrypoint', 'id', 'grove-controller', '-u']));
    chownSync(own.keyFile, uid, 0);
    chmodSync(own.keyFile, 0o400);
    const override = join(home, 'compose.override.yml');
    writeFileSync(
      override,
      [
        'services:',
        '  controller:',
        '    command: >-',
        '      controller run --listen 0.0.0.0:6120 --data-dir /data --listen-ssh 0.0.0.0:6122',
        '      --tls-cert /etc/grove/tls/tls.crt --tls-key /etc/grove/tls/tls.key',
        '    volumes:',
        `      - ${dir}:/etc/grove/tls:ro`,
        '',
      ].join('\n'),
    );
    compose.addOverride(override);
    await compose.compose(['up', '-d']);
    await compose.untilHealthy('controller');
    const ownFingerprint = certificateFingerprint(own.certPem);
    expect(await compose.logs('controller')).toContain(`TLS certificate (user) SHA-256 fingerprint: ${ownFingerprint}`);
    expect(await servedFingerprint(compose.url)).toBe(ownFingerprint);
  });
});

/** GET over TLS from the controller whose certificate has this fingerprint (the one its log printed). */
function pinnedGet(
  url: string,
  fingerprint: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      const served = certificateFingerprint((res.socket as TLSSocket).getPeerCertificate().raw);
      if (served !== fingerprint) {
        res.destroy();
        reject(new Error(`${url} was served with certificate ${served}, not ${fingerprint}`));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer within 10 s`)));
    req.on('error', reject);
  });
}
