import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ApiError, type GroveClient } from '@grove/client';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import { createContext, expectSuccess, runGrove, type GroveResult } from './test-support/cli-process';
import { adminClient, BOOTSTRAP_ADMIN } from './test-support/controller-process';
import {
  askpassEnv,
  keyFingerprint,
  makeKeyPair,
  runOpenSsh,
  writeAskpass,
  type OpenSshResult,
} from './test-support/openssh-client';
import { startRestartableController, type RestartableController } from './test-support/restartable-controller';
import { startSyntheticWorker } from './test-support/synthetic-worker';
import { untilRunning } from './test-support/running-vm';

/** The API error a call fails with (the test fails when it succeeds). */
async function apiError(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) {
      return err;
    }
    throw err;
  }
  throw new Error('the call succeeded');
}

/**
 * The controller's SSH gateway (docs/ssh-gateway.md) with the stock OpenSSH client against a real controller and a
 * synthetic worker, whose VMs run an SSH server (admin/admin) on port 22 and echo on port 7.
 */
describe('SSH gateway: OpenSSH against a controller with --listen-ssh and a synthetic worker', () => {
  const SA = 'e2e-ssh';
  const SA_TOKEN = `e2e-ssh-token-${randomBytes(6).toString('hex')}`;
  const VIEWER = 'e2e-viewer';
  const VIEWER_TOKEN = `e2e-viewer-token-${randomBytes(6).toString('hex')}`;
  let controller: RestartableController;
  let worker: RunningProcess;
  let home: string;
  let sshPort: number;
  let askpass: string;
  let saKey: string;
  let viewerKey: string;
  let strangerKey: string;
  let admin: GroveClient;

  const grove = (args: string[], input?: string): Promise<GroveResult> => runGrove(args, { home, input });
  /**
   * An ssh_config for the gateway (127.0.0.1): the one `key` (the account's by default), a known_hosts file of the
   * test; quiet (LogLevel ERROR, so that stderr holds only what the remote side wrote) unless `verbose` (then
   * OpenSSH prints what the gateway said: channel open failures, refused logins). Other hosts are the VMs, whose
   * synthetic SSH server knows passwords only and whose host key is not what is tested here.
   */
  const configFor = (options: { key?: string; verbose?: boolean }): string => {
    const key = options.key ?? saKey;
    const logLevel = options.verbose ? 'INFO' : 'ERROR';
    const path = join(home, `ssh_config-${basename(key)}-${logLevel}`);
    if (!existsSync(path)) {
      writeFileSync(
        path,
        [
          'Host 127.0.0.1',
          `  UserKnownHostsFile ${join(home, 'known_hosts')}`,
          '  StrictHostKeyChecking accept-new',
          `  IdentityFile ${key}`,
          '  IdentitiesOnly yes',
          '  PreferredAuthentications publickey,password',
          '  PubkeyAuthentication yes',
          '  NumberOfPasswordPrompts 1',
          '  ConnectTimeout 10',
          `  LogLevel ${logLevel}`,
          'Host *',
          '  UserKnownHostsFile /dev/null',
          '  StrictHostKeyChecking no',
          '  PreferredAuthentications password',
          '  PubkeyAuthentication no',
          '  NumberOfPasswordPrompts 1',
          `  LogLevel ${logLevel}`,
          '',
        ].join('\n'),
      );
    }
    return path;
  };
  /** `ssh -F <test config> …`. */
  const ssh = (
    args: string[],
    options: { input?: string; password?: string; verbose?: boolean; key?: string } = {},
  ): Promise<OpenSshResult> =>
    runOpenSsh('ssh', ['-F', configFor(options), ...args], {
      input: options.input,
      env: askpassEnv(askpass, options.password),
    });
  const jumpArg = (): string => `${SA}@127.0.0.1:${sshPort}`;
  /** Direct logins to the gateway (not through -J), so that -o options reach it. */
  const direct = (
    user: string,
    extra: string[],
    command: string[],
    options: { input?: string; password?: string; verbose?: boolean; key?: string } = {},
  ) => ssh(['-p', String(sshPort), ...extra, `${user}@127.0.0.1`, ...command], options);
  const withPassword = ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no'];
  const withKey = ['-o', 'PreferredAuthentications=publickey'];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-ssh-gateway-'));
    sshPort = await freePort();
    controller = await startRestartableController(['--listen-ssh', `127.0.0.1:${sshPort}`]);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: 'e2e-ssh-1',
      dataDir: join(home, 'worker'),
    });
    admin = adminClient(controller);
    await createContext(home, controller.url, BOOTSTRAP_ADMIN, controller.adminToken);
    expectSuccess(await grove(['create', 'service-account', SA, '--roles', 'compute:connect', '--token', SA_TOKEN]));
    expectSuccess(
      await grove(['create', 'service-account', VIEWER, '--roles', 'compute:read', '--token', VIEWER_TOKEN]),
    );
    saKey = makeKeyPair(home, 'id_sa');
    viewerKey = makeKeyPair(home, 'id_viewer');
    strangerKey = makeKeyPair(home, 'id_stranger');
    // The done-when: the account's key is registered through the CLI, from its .pub file and from stdin.
    expectSuccess(await grove(['create', 'ssh-key', SA, `${saKey}.pub`]));
    expectSuccess(await grove(['create', 'ssh-key', VIEWER, '-'], readFileSync(`${viewerKey}.pub`, 'utf8')));
    askpass = writeAskpass(home);
    expectSuccess(await grove(['create', 'vm', 'v1', '--image', 'any']));
    await untilRunning(admin, 'v1');
  });

  afterAll(async () => {
    admin?.close();
    await worker?.stop();
    await controller?.stop();
    if (home) {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('logs the listening address and the host key fingerprint at start', () => {
    expect(controller.output()).toMatch(
      new RegExp(
        `SSH gateway listening on 127\\.0\\.0\\.1:${sshPort} \\(host key ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}, generated now\\)`,
      ),
    );
  });

  it("ssh -J sa@127.0.0.1:PORT admin@v1 'uname' runs uname in the VM, the account logging in with its key", async () => {
    const result = await ssh(['-J', jumpArg(), 'admin@v1', 'uname']);
    expect(result).toEqual({ code: 0, stdout: 'Linux\n', stderr: '' });
  });

  it('records the forward as an ssh-forward audit event of the VM and an Audit log line', async () => {
    expectSuccess(await ssh(['-J', jumpArg(), 'admin@v1', 'true']));
    const audit = await waitFor(
      'the ssh-forward audit event',
      async () =>
        (await admin.vms.allEvents('v1'))
          .filter((event) => event.kind === 'audit')
          .map((event) => JSON.parse(event.payload) as Record<string, unknown>)
          .find((record) => record['type'] === 'ssh-forward'),
      10_000,
      100,
    );
    expect(audit).toMatchObject({
      type: 'ssh-forward',
      account: SA,
      authMethod: 'publickey',
      remoteAddress: '127.0.0.1',
      vm: 'v1',
      worker: 'e2e-ssh-1',
      port: 22,
      result: 'closed',
    });
    expect(controller.output()).toMatch(/\[Audit\].*"type":"ssh-forward"/);
  });

  it('scp through -J copies a file to the VM and back, byte for byte', async () => {
    const original = randomBytes(1024 * 1024 + 17);
    const source = join(home, 'upload.bin');
    const back = join(home, 'download.bin');
    writeFileSync(source, original);
    const scp = (from: string, to: string) =>
      runOpenSsh('scp', ['-O', '-q', '-F', configFor({}), '-J', jumpArg(), from, to], { env: askpassEnv(askpass) });
    expectSuccess(await scp(source, 'admin@v1:copied.bin'));
    expectSuccess(await scp('admin@v1:copied.bin', back));
    expect(readFileSync(back).equals(original)).toBe(true);
  });

  it('ssh -W v1:7 with the token as password forwards stdin to the echo port and back, with its end of file', async () => {
    const input = `echo through the gateway ${randomBytes(4).toString('hex')}\n`;
    const result = await direct(SA, [...withPassword, '-W', 'v1:7'], [], { input, password: SA_TOKEN });
    expect(result).toEqual({ code: 0, stdout: input, stderr: '' });
  });

  it("ssh -p PORT sa+v1@127.0.0.1 'echo hi; exit 3' prints hi and exits 3 (exec in the VM, no SSH to it)", async () => {
    const result = await direct(`${SA}+v1`, [], ['echo hi; exit 3']);
    expect(result).toEqual({ code: 3, stdout: 'hi\n', stderr: '' });
  });

  it('sa+v1 sessions pass stdin with its end of file and keep stdout and stderr apart', async () => {
    const result = await direct(`${SA}+v1`, [], ['read x; echo "got $x"; echo oops >&2; cat; exit 5'], {
      input: 'line\nrest\n',
    });
    expect(result).toEqual({ code: 5, stdout: 'got line\nrest\n', stderr: 'oops\n' });
  });

  it('ssh -tt sa+v1 gives an interactive login shell on a terminal, with the variables the client sets', async () => {
    const result = await direct(`${SA}+v1`, ['-tt', '-o', 'SetEnv=GROVE_E2E_VAR=from-env'], [], {
      input: 'echo "hello-$((6*7))-$GROVE_E2E_VAR"; stty size; exit 4\n',
    });
    expect(result.code).toBe(4);
    expect(result.stdout).toContain('hello-42-from-env');
    // `stty size` answers only on a terminal.
    expect(result.stdout).toMatch(/^\d+ \d+\r?$/m);
  });

  it('records sessions as ssh-session audit events', async () => {
    expectSuccess(await direct(`${SA}+v1`, [], ['true']));
    const audit = await waitFor(
      'the ssh-session audit event',
      async () =>
        (await admin.vms.allEvents('v1'))
          .filter((event) => event.kind === 'audit')
          .map((event) => JSON.parse(event.payload) as Record<string, unknown>)
          .find((record) => record['type'] === 'ssh-session' && record['command'] === 'true'),
      10_000,
      100,
    );
    expect(audit).toMatchObject({
      account: SA,
      authMethod: 'publickey',
      remoteAddress: '127.0.0.1',
      vm: 'v1',
      tty: false,
      exitCode: 0,
    });
  });

  it('refuses a session channel of a login without a VM, saying how to log in', async () => {
    const result = await direct(SA, [], ['true'], { verbose: true });
    expect(result.code).toBe(255);
    expect(result.stderr).toContain(`log in as "${SA}+<vm-name>"`);
  });

  it('rejects a wrong token', async () => {
    const result = await direct(SA, withPassword, ['true'], { password: 'not-the-token', verbose: true });
    expect(result.code).toBe(255);
    expect(result.stderr).toContain('Permission denied');
  });

  it('rejects a key that is not attached to the account', async () => {
    const result = await direct(SA, withKey, ['true'], { verbose: true, key: strangerKey });
    expect(result.code).toBe(255);
    expect(result.stderr).toContain('Permission denied');
  });

  it('rejects an account without compute:write or compute:connect, with its token and with its key', async () => {
    const byPassword = await direct(VIEWER, withPassword, ['true'], { password: VIEWER_TOKEN, verbose: true });
    expect(byPassword.code).toBe(255);
    expect(byPassword.stderr).toContain('Permission denied');
    const byKey = await direct(VIEWER, withKey, ['true'], { verbose: true, key: viewerKey });
    expect(byKey.code).toBe(255);
    expect(byKey.stderr).toContain('Permission denied');
    expect(controller.output()).toContain(`"${VIEWER}" from 127.0.0.1 refused: the account has neither compute:write`);
  });

  it('rejects forwards to an unknown VM and to a closed port, with the reason', async () => {
    const unknown = await ssh(['-J', jumpArg(), 'admin@nope', 'true'], { verbose: true });
    expect(unknown.code).toBe(255);
    expect(unknown.stderr).toContain('open failed: connect failed: VM "nope" not found');
    const closed = await direct(SA, ['-W', 'v1:1'], [], { verbose: true });
    expect(closed.code).toBe(255);
    expect(closed.stderr).toContain('open failed: connect failed: cannot connect to VM "v1" port 1');
  });

  it('validates keys: 400 naming the field for private keys and garbage, 409 for duplicates, 404 for unknown accounts', async () => {
    const privateKey = await apiError(
      admin.serviceAccounts.addSshKey(SA, { publicKey: readFileSync(strangerKey, 'utf8') }),
    );
    expect(privateKey.status).toBe(400);
    expect(privateKey.errors).toEqual([{ field: 'publicKey', message: expect.stringContaining('private key') }]);

    const garbage = await apiError(admin.serviceAccounts.addSshKey(SA, { publicKey: 'ssh-ed25519 bm90IGEga2V5' }));
    expect(garbage.status).toBe(400);
    expect(garbage.errors).toEqual([
      { field: 'publicKey', message: expect.stringContaining('is not an OpenSSH public key') },
    ]);

    const empty = await apiError(admin.serviceAccounts.addSshKey(SA, { publicKey: '' }));
    expect(empty.status).toBe(400);
    expect(empty.errors.map((e) => e.field)).toEqual(['publicKey']);

    const longComment = await apiError(
      admin.serviceAccounts.addSshKey(SA, {
        publicKey: readFileSync(`${strangerKey}.pub`, 'utf8'),
        comment: 'x'.repeat(1000),
      }),
    );
    expect(longComment.status).toBe(400);
    expect(longComment.errors.map((e) => e.field)).toEqual(['comment']);

    const duplicate = await apiError(
      admin.serviceAccounts.addSshKey(SA, { publicKey: readFileSync(`${saKey}.pub`, 'utf8') }),
    );
    expect(duplicate.status).toBe(409);
    expect(duplicate.message).toContain(keyFingerprint(`${saKey}.pub`));

    const unknownAccount = await apiError(
      admin.serviceAccounts.addSshKey('no-such-account', { publicKey: readFileSync(`${saKey}.pub`, 'utf8') }),
    );
    expect(unknownAccount.status).toBe(404);
  });

  it('lists keys with OpenSSH fingerprints, removes them by fingerprint, and removes them with the account', async () => {
    const listed = await grove(['list', 'ssh-keys', SA, '-o', 'json']);
    expectSuccess(listed);
    const fingerprint = keyFingerprint(`${saKey}.pub`);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ fingerprint, type: 'ssh-ed25519', comment: 'id_sa@grove-e2e' }),
    ]);

    // A throwaway account: its key works, then stops working once removed (fingerprints hold "/" and "+").
    const temp = `e2e-ssh-temp-${randomBytes(3).toString('hex')}`;
    const tempKey = makeKeyPair(home, 'id_temp');
    expectSuccess(await grove(['create', 'service-account', temp, '--roles', 'compute:write']));
    expectSuccess(await grove(['create', 'ssh-key', temp, `${tempKey}.pub`, '--comment', 'temporary']));
    expectSuccess(await direct(temp, [...withKey, '-W', 'v1:7'], [], { input: 'x\n', key: tempKey }));
    expectSuccess(await grove(['delete', 'ssh-key', temp, keyFingerprint(`${tempKey}.pub`)]));
    expect((await direct(temp, withKey, ['true'], { verbose: true, key: tempKey })).stderr).toContain(
      'Permission denied',
    );

    expectSuccess(await grove(['create', 'ssh-key', temp, `${tempKey}.pub`]));
    expectSuccess(await grove(['delete', 'service-account', temp]));
    expectSuccess(await grove(['create', 'service-account', temp, '--roles', 'compute:write']));
    expect(await admin.serviceAccounts.listSshKeys(temp)).toEqual([]);
    expect((await apiError(admin.serviceAccounts.removeSshKey(temp, 'SHA256:nothing'))).status).toBe(404);
  });

  it('keeps its host key across a restart: a pinned known_hosts entry still matches', async () => {
    // The first connection pinned the key (accept-new); from now on only that key is accepted.
    const pinned = keyFingerprint(join(home, 'known_hosts'));
    expect(controller.output()).toContain(pinned);
    expect(await controller.stopProcess('SIGTERM')).toBe(0);
    await controller.start();
    expect(controller.output()).toMatch(
      new RegExp(`host key ssh-ed25519 ${pinned.replace(/[+/]/g, '\\$&')}, from the data dir`),
    );
    await waitFor('v1 running again', async () => (await admin.vms.get('v1')).status === 'running', 30_000, 100);
    const result = await waitFor(
      'a forward after the restart',
      async () => {
        // accept-new (the gateway's setting in the test config) refuses a key that differs from the pinned one.
        const attempt = await ssh(['-J', jumpArg(), 'admin@v1', 'uname']);
        return attempt.code === 0 ? attempt : undefined;
      },
      30_000,
      500,
    );
    expect(result.stdout).toBe('Linux\n');
  });
});
