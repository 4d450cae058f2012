import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchPeerCertificate } from '@grove/client';
import { certificateFingerprint, type Vm } from '@grove/resources';
import { freePort, startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { cleanEnv, expectSuccess, runGrove, type GroveResult } from '../test-support/cli-process';
import { BOOTSTRAP_ADMIN } from '../test-support/controller-process';
import { startGrove } from '../test-support/grove-process';
import { CLI_MAIN } from '../test-support/paths';
import { sessionCount } from '../test-support/synthetic-worker';
import { tcpExchange } from '../test-support/tcp-exchange';

const FINGERPRINT_LINE = /TLS certificate \(([\w-]+)\) SHA-256 fingerprint: ((?:[0-9A-F]{2} ){31}[0-9A-F]{2})/g;

/** The fingerprints a controller's log announced, one per start, in order. */
export function loggedFingerprints(log: string): string[] {
  return [...log.matchAll(FINGERPRINT_LINE)].map((match) => match[2]);
}

/** The SHA-256 fingerprint of the certificate presented at `url`, in the controller's notation. */
export async function servedFingerprint(url: string): Promise<string> {
  return certificateFingerprint((await fetchPeerCertificate(url)).der);
}

/** The bootstrap-admin token a controller prints once, on the first start of an empty database. */
export function printedAdminToken(log: string): string {
  const match = /Its token \(shown only now\): (\S+)/.exec(log);
  if (!match) {
    throw new Error(`the controller printed no bootstrap-admin token:\n${log}`);
  }
  return match[1];
}

/**
 * What an operator does on their own machine with a deployed controller, through the CLI only: a context, a
 * service account for workers and its bootstrap token, a worker started with it (`grove worker run`, the foreground
 * form of `grove worker install`), VMs, exec, port-forward. Everything in one GROVE_HOME.
 */
export class Operator {
  private readonly workers: RunningProcess[] = [];

  constructor(readonly home: string) {
    mkdirSync(home, { recursive: true });
  }

  grove(args: string[], input?: string): Promise<GroveResult> {
    return runGrove(args, { home: this.home, input, timeoutMs: 60_000 });
  }

  async groveOk(args: string[], input?: string): Promise<string> {
    const result = await this.grove(args, input);
    expectSuccess(result);
    return result.stdout;
  }

  /** `grove context create URL --yes` as bootstrap-admin; resolves with what it printed (the fingerprint). */
  async login(url: string, adminToken: string): Promise<string> {
    const result = await this.grove([
      ...['context', 'create', url, '--service-account-name', BOOTSTRAP_ADMIN],
      ...['--service-account-token', adminToken, '--yes'],
    ]);
    expectSuccess(result);
    return result.stderr;
  }

  /** A service account that can run workers and its bootstrap token (with the pinned certificate) in a file. */
  async workerTokenFile(account: string): Promise<string> {
    const token = randomBytes(24).toString('hex');
    await this.groveOk([
      'create',
      'service-account',
      account,
      '--roles',
      'compute:read,compute:write',
      '--token',
      token,
    ]);
    const bootstrap = (await this.groveOk(['get', 'bootstrap-token', account, '--token', token])).trim();
    const file = join(this.home, `${account}.token`);
    writeFileSync(file, `${bootstrap}\n`, { mode: 0o600 });
    return file;
  }

  /** `grove worker run URL --bootstrap-token-file F --runtime synthetic`, waiting for its first session. */
  async startWorker(url: string, name: string, tokenFile: string): Promise<RunningProcess> {
    const worker = startNodeProcess(
      [
        ...[CLI_MAIN, 'worker', 'run', url, '--bootstrap-token-file', tokenFile, '--name', name],
        ...['--runtime', 'synthetic', '--data-dir', join(this.home, `worker-${name}`)],
      ],
      { ...cleanEnv(), GROVE_HOME: this.home },
    );
    this.workers.push(worker);
    await waitFor(`worker ${name}'s session`, () => sessionCount(worker) > 0, 60_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}\n${worker.output()}`, { cause: err });
    });
    return worker;
  }

  async vm(name: string): Promise<Vm> {
    return JSON.parse(await this.groveOk(['get', 'vm', name, '-o', 'json'])) as Vm;
  }

  async untilRunning(name: string, timeoutMs = 60_000): Promise<Vm> {
    return waitFor(
      `VM ${name} running`,
      async () => {
        const vm = await this.vm(name);
        return vm.status === 'running' ? vm : undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** `grove port-forward vm NAME PORT:7` and a round trip of random bytes through it (port 7 echoes). */
  async echoThroughPortForward(vm: string): Promise<void> {
    const port = await freePort();
    const forwarder = startGrove(['port-forward', 'vm', vm, `${port}:7`], this.home);
    try {
      await waitFor(
        'the forwarder to listen',
        () => forwarder.output().includes(`Forwarding 127.0.0.1:${port} -> vm/${vm}:7`),
        30_000,
      );
      const sent = randomBytes(128 * 1024);
      const back = await tcpExchange(port, sent);
      if (!back.equals(sent)) {
        throw new Error(`port-forward echoed ${back.length} of ${sent.length} bytes, or other bytes`);
      }
    } finally {
      await forwarder.stop('SIGINT');
    }
  }

  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }
}
