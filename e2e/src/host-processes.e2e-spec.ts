import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, GroveClient, webSocketStream } from '@grove/client';
import type { HostProcess, Vm } from '@grove/resources';
import { freePort, waitFor, type RunningProcess } from '@grove/testing';
import { createContext, expectSuccess, runGrove } from './test-support/cli-process';
import { adminClient, type ControllerProcess, startController } from './test-support/controller-process';
import { startGrove } from './test-support/grove-process';
import { REPO_ROOT } from './test-support/paths';
import { untilRunning } from './test-support/running-vm';
import { startSyntheticWorker } from './test-support/synthetic-worker';
import { tcpExchange } from './test-support/tcp-exchange';

const WORKER = 'e2e-host-processes';
/** The echo server the worker runs as host process "echo" (see the script's header). */
const ECHO_SCRIPT = join(REPO_ROOT, 'e2e', 'fixtures', 'host-process-echo.cjs');
/** In the worker's environment only: a host process must not see it. */
const WORKER_SECRET = `worker-secret-${randomBytes(8).toString('hex')}`;

const echoProcess = (env: Record<string, string> = {}): HostProcess => ({
  name: 'echo',
  program: process.execPath,
  args: [ECHO_SCRIPT, '--vm=${ORCHARD_VM_NAME}', '--worker=${GROVE_WORKER_NAME}', '${HOME}'],
  ...(Object.keys(env).length > 0 ? { env } : {}),
});

/** What the echo script answers to `ENV?`. */
interface EchoReport {
  env: Record<string, string>;
  argv: string[];
  pid: number;
  cwd: string;
  controlSocketAlias: { symlink: boolean; target: string } | { error: string };
}

/** Writes `data` to a duplex stream, ends its side, and resolves with everything that comes back until the end. */
function exchange(stream: NodeJS.ReadWriteStream, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.end(data);
  });
}

/** `text` as a regular expression that matches it literally. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a process with this pid still exists on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The rejection of `promise` (failing the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (err: unknown) => err,
  );
}

/**
 * VM host processes end to end (issue 12, orchard-2026.md §1.2.3): a real controller and a synthetic worker process,
 * which runs a small Node echo server beside a VM; reached through the API's port-forward and `grove port-forward
 * --host-process`, as a user would.
 */
describe('VM host processes on a synthetic worker', () => {
  let controller: ControllerProcess;
  let admin: GroveClient;
  let worker: RunningProcess;
  let home: string;
  const background: RunningProcess[] = [];
  const vmName = 'hp-vm';
  const token = 'e2e-host-process-token-0123456789';
  const accounts = {
    // What a user of host processes needs, and no more.
    user: { name: 'hp-user', roles: ['compute:read', 'compute:connect', 'host-process:connect'] },
    noWrite: { name: 'hp-no-write', roles: ['compute:read', 'compute:write'] },
    noConnect: { name: 'hp-no-connect', roles: ['compute:read', 'compute:connect'] },
  } as const;
  const as = (account: { name: string }) =>
    new GroveClient({ url: controller.url, serviceAccountName: account.name, serviceAccountToken: token });

  const until = (what: string, probe: (vm: Vm) => boolean, name = vmName) =>
    waitFor(
      what,
      async () => {
        const vm = await admin.vms.get(name);
        return probe(vm) ? vm : undefined;
      },
      30_000,
      50,
    );
  const ready = (vm: Vm) =>
    vm.conditions?.some((c) => c.type === 'host-processes-ready' && c.state === 'true') === true;

  /** One `ENV?` through the API's port-forward to the VM's host process "echo". */
  async function askEcho(name = vmName): Promise<EchoReport> {
    const ws = await admin.vms.portForward(name, { hostProcess: 'echo', waitSeconds: 10, halfClose: true });
    const answer = await exchange(webSocketStream(ws), Buffer.from('ENV?\n'));
    return JSON.parse(answer.toString('utf8')) as EchoReport;
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'grove-e2e-hp-'));
    controller = await startController();
    admin = adminClient(controller);
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: WORKER,
      dataDir: join(home, WORKER),
      env: { ...process.env, GROVE_SERVICE_ACCOUNT_TOKEN: WORKER_SECRET, E2E_WORKER_SECRET: WORKER_SECRET },
    });
    for (const account of Object.values(accounts)) {
      await admin.serviceAccounts.create({ name: account.name, roles: [...account.roles], token });
    }
  });

  afterAll(async () => {
    await Promise.all(background.map((proc) => proc.stop('SIGINT')));
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('registers the worker with capability host-processes', async () => {
    expect((await admin.workers.get(WORKER)).capabilities).toContain('host-processes');
  });

  it('adds a host process to a running VM without restarting the VM', async () => {
    await admin.vms.create({
      name: vmName,
      image: 'any',
      os: 'linux',
      startup_script: { script_content: 'echo "startup script ran"' },
    });
    await untilRunning(admin, vmName);
    const before = await until('the startup script done', (v) => v.status_message === 'VM started');
    await waitFor('its log line', async () =>
      (await admin.vms.allEvents(vmName)).some((e) => e.payload === 'startup script ran'),
    );

    const updated = await admin.vms.updateSpec(vmName, { hostProcesses: [echoProcess({ GREETING: 'hello' })] });
    expect(updated.generation).toBeGreaterThan(before.generation ?? 0);
    const after = await until(
      'observedGeneration caught up and host-processes-ready true',
      (v) => v.observedGeneration === updated.generation && ready(v),
    );
    expect(after).toMatchObject({
      status: 'running',
      worker: WORKER,
      started_at: before.started_at,
      restart_count: before.restart_count,
      localName: before.localName,
    });
    expect(after.hostProcesses).toEqual([echoProcess({ GREETING: 'hello' })]);
    const lines = (await admin.vms.allEvents(vmName)).filter((e) => e.payload === 'startup script ran');
    expect(lines).toHaveLength(1);
  });

  it('carries bytes to the host process through GET /v1/vms/{name}/port-forward?hostProcess=echo', async () => {
    const ws = await as(accounts.user).vms.portForward(vmName, {
      hostProcess: 'echo',
      waitSeconds: 10,
      halfClose: true,
    });
    const payload = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}\n`).join(''));
    const back = await exchange(webSocketStream(ws), Buffer.concat([payload, Buffer.from('no newline at the end')]));
    expect(back.toString()).toBe(`${payload.toString()}no newline at the end`);
  });

  it('gives the process its worker, VM, sockets and spec env, expands ${…} in args, and none of the worker env', async () => {
    const report = await askEcho();
    expect(report.env).toMatchObject({
      ORCHARD_WORKER_NAME: WORKER,
      GROVE_WORKER_NAME: WORKER,
      ORCHARD_VM_NAME: vmName,
      GROVE_VM_NAME: vmName,
      ORCHARD_PROCESS_SOCKET: join(report.cwd, 'process.sock'),
      GROVE_PROCESS_SOCKET: join(report.cwd, 'process.sock'),
      ORCHARD_VM_CONTROL_SOCKET: report.env.GROVE_VM_CONTROL_SOCKET,
      GREETING: 'hello',
    });
    // The alias of the VM's control socket is a link in the process's own directory (the synthetic VM has no Tart
    // control socket behind it, so only the link itself is checked).
    expect(report.env.ORCHARD_VM_CONTROL_SOCKET.startsWith(`${report.cwd}/`)).toBe(true);
    expect(report.controlSocketAlias).toMatchObject({ symlink: true, target: expect.any(String) });
    // Only the worker's PATH gets through: not its secrets, nor $HOME (so "${HOME}" stays as written).
    expect(report.argv).toEqual([`--vm=${vmName}`, `--worker=${WORKER}`, '${HOME}']);
    expect(report.env).not.toHaveProperty('E2E_WORKER_SECRET');
    expect(report.env).not.toHaveProperty('GROVE_SERVICE_ACCOUNT_TOKEN');
    expect(JSON.stringify(report)).not.toContain(WORKER_SECRET);
    expect(JSON.stringify(report)).not.toContain(controller.adminToken);
    expect(Object.keys(report.env).sort()).toEqual(
      [
        'GREETING',
        'PATH',
        ...['WORKER_NAME', 'VM_NAME', 'VM_CONTROL_SOCKET', 'PROCESS_SOCKET'].flatMap((n) => [
          `ORCHARD_${n}`,
          `GROVE_${n}`,
        ]),
      ].sort(),
    );
  });

  it('forwards a local port to the host process with grove port-forward vm NAME LOCAL --host-process echo', async () => {
    const cliHome = join(home, 'cli');
    await createContext(cliHome, controller.url, accounts.user.name, token);
    const port = await freePort();
    const forwarder = startGrove(['port-forward', 'vm', vmName, String(port), '--host-process', 'echo'], cliHome);
    background.push(forwarder);
    await waitFor(
      'the forwarder to listen',
      () => forwarder.output().includes(`Forwarding 127.0.0.1:${port} -> vm/${vmName}, host process "echo"`),
      15_000,
    );
    const sent = [Buffer.from('hello through grove\n'), Buffer.from(`${randomBytes(64 * 1024).toString('hex')}\n`)];
    const back = await Promise.all(sent.map((data) => tcpExchange(port, data)));
    back.forEach((data, i) => expect(data.toString()).toBe(sent[i].toString()));
    expect(await forwarder.stop('SIGINT')).toBe(0);
  });

  it('creates a VM with grove create vm --host-process and shows it with grove get vm', async () => {
    const cliHome = join(home, 'cli-admin');
    await createContext(cliHome, controller.url, 'bootstrap-admin', controller.adminToken);
    const name = 'hp-cli';
    expectSuccess(
      await runGrove(
        [
          'create',
          'vm',
          name,
          '--image',
          'any',
          '--os',
          'linux',
          '--cpu',
          '0',
          '--memory',
          '0',
          '--host-process',
          `echo='${process.execPath}' '${ECHO_SCRIPT}' --vm=\${ORCHARD_VM_NAME}`,
          '--host-process-env',
          'echo:API_KEY=do-not-show',
        ],
        { home: cliHome },
      ),
    );
    await until('host-processes-ready', (v) => v.status === 'running' && ready(v), name);
    const shown = await runGrove(['get', 'vm', name], { home: cliHome });
    expectSuccess(shown);
    expect(shown.stdout).toMatch(
      new RegExp(
        `Host processes:\\s+echo: ${escape(process.execPath)} ${escape(ECHO_SCRIPT)} ${escape('--vm=${ORCHARD_VM_NAME} (env API_KEY)')}\n`,
      ),
    );
    expect(shown.stdout).toMatch(/Host processes ready:\s+true\n/);
    expect(shown.stdout).not.toContain('do-not-show');
    expect((await askEcho(name)).argv).toEqual([`--vm=${name}`]);
    await admin.vms.delete(name);
  });

  it('answers 404 for a host process the VM does not declare, and 403 without the host-process roles', async () => {
    const missing = await rejection(admin.vms.portForward(vmName, { hostProcess: 'nope', waitSeconds: 0 }));
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({ status: 404, message: expect.stringContaining('"nope"') });

    const noWrite = as(accounts.noWrite);
    const create = await rejection(
      noWrite.vms.create({ name: 'hp-denied', image: 'any', os: 'linux', hostProcesses: [echoProcess()] }),
    );
    expect(create).toMatchObject({ status: 403, message: expect.stringContaining('host-process:write') });
    const update = await rejection(
      noWrite.vms.updateSpec(vmName, { hostProcesses: [echoProcess({ GREETING: 'changed' })] }),
    );
    expect(update).toMatchObject({ status: 403, message: expect.stringContaining('host-process:write') });
    // compute:write alone still creates VMs without host processes.
    await noWrite.vms.create({ name: 'hp-plain', image: 'any', os: 'linux' });
    await admin.vms.delete('hp-plain');

    const connect = await rejection(
      as(accounts.noConnect).vms.portForward(vmName, { hostProcess: 'echo', waitSeconds: 0 }),
    );
    expect(connect).toMatchObject({ status: 403, message: expect.stringContaining('host-process:connect') });
    // The same account may still reach the VM's ports: it is the host process that needs the extra role.
    const vmPort = await as(accounts.noConnect).vms.portForward(vmName, { port: 7, waitSeconds: 10, halfClose: true });
    expect((await exchange(webSocketStream(vmPort), Buffer.from('port 7'))).toString()).toBe('port 7');
  });

  it('stops the host process and removes its directory when the VM is deleted', async () => {
    const { pid, cwd } = await askEcho();
    expect(alive(pid)).toBe(true);
    expect(existsSync(cwd)).toBe(true);
    await admin.vms.delete(vmName);
    await waitFor('the host process to end', () => !alive(pid), 20_000, 50);
    await waitFor('its directory to go', () => !existsSync(cwd), 20_000, 50);
  });
});
