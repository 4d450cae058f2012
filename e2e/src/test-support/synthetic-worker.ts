import { join } from 'node:path';
import { encodeBootstrapToken } from '@grove/resources';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN } from './controller-process';
import { REPO_ROOT } from './paths';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');

export interface SyntheticWorkerOptions extends WorkerLogin {
  /** Its data directory (the synthetic runtime keeps its VMs there). */
  dataDir: string;
  /** `key=value,…`: VMs that ask for these labels land on this worker only. */
  labels?: string;
  /** More `grove worker run` flags. */
  extraArgs?: string[];
  /** Its environment (default: the test runner's). */
  env?: NodeJS.ProcessEnv;
}

/** How many sessions the worker has opened so far ("connected to http…" lines of its output). */
export function sessionCount(worker: RunningProcess): number {
  return (worker.output().match(/connected to http/g) ?? []).length;
}

/** How a worker process logs in to its controller, whatever its runtime. */
export interface WorkerLogin {
  controllerUrl: string;
  adminToken: string;
  /** The controller's certificate, for a controller serving HTTPS with its own (pinned through the bootstrap token). */
  certificatePem?: string;
  name: string;
}

/**
 * Starts `node apps/worker/dist/main.js` logged in as bootstrap-admin, with `runtimeArgs` after its controller, name
 * and token, and waits for its first session with the controller (stopping it, with its output in the error, if none
 * comes).
 */
export async function startWorkerProcess(
  login: WorkerLogin,
  runtimeArgs: string[],
  env?: NodeJS.ProcessEnv,
): Promise<RunningProcess> {
  const token = encodeBootstrapToken({
    serviceAccountName: BOOTSTRAP_ADMIN,
    serviceAccountToken: login.adminToken,
    certificatePem: login.certificatePem,
  });
  const worker = startNodeProcess(
    [WORKER_MAIN, login.controllerUrl, '--bootstrap-token', token, '--name', login.name, ...runtimeArgs],
    env,
  );
  try {
    await waitFor(`worker ${login.name}'s session`, () => sessionCount(worker) > 0, 20_000);
  } catch (err) {
    await worker.stop();
    throw new Error(`${(err as Error).message}\n${worker.output()}`, { cause: err });
  }
  return worker;
}

/**
 * Starts `node apps/worker/dist/main.js` with the synthetic runtime, logged in as bootstrap-admin, and waits for its
 * first session with the controller.
 */
export function startSyntheticWorker(options: SyntheticWorkerOptions): Promise<RunningProcess> {
  return startWorkerProcess(
    options,
    [
      '--runtime',
      'synthetic',
      '--data-dir',
      options.dataDir,
      // Several workers run on this host (in one spec, and in specs running side by side): each takes a free port for
      // /healthz and /metrics instead of the default 6130, and logs which.
      '--listen-metrics',
      '127.0.0.1:0',
      ...(options.labels ? ['--labels', options.labels] : []),
      ...(options.extraArgs ?? []),
    ],
    options.env,
  );
}

/**
 * The synthetic workers a spec starts against one controller, each in its own data dir under the spec's home, stopped
 * together at the end. The controller and home are read when a worker starts (specs set them in `beforeAll`).
 */
export class SyntheticWorkers {
  private readonly started: RunningProcess[] = [];

  constructor(
    private readonly controller: () => { url: string; adminToken: string; certificatePem?: string },
    private readonly home: () => string,
  ) {}

  async start(name: string, labels?: string): Promise<RunningProcess> {
    const { url, adminToken, certificatePem } = this.controller();
    const proc = await startSyntheticWorker({
      controllerUrl: url,
      adminToken,
      certificatePem,
      name,
      dataDir: join(this.home(), name),
      labels,
    });
    this.started.push(proc);
    return proc;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((w) => w.stop()));
  }
}
