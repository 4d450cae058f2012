import { delimiter, join } from 'node:path';
import { encodeBootstrapToken } from '@grove/resources';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { BOOTSTRAP_ADMIN } from './controller-process';
import { REPO_ROOT } from './paths';
import { sessionCount } from './synthetic-worker';

const WORKER_MAIN = join(REPO_ROOT, 'apps', 'worker', 'dist', 'main.js');
/** The stand-in `tart` (e2e/tart), found first on the worker's PATH. */
const STAND_IN_BIN = join(REPO_ROOT, 'e2e', 'tart', 'bin');

/** One image of the stand-in's registry catalogue (e2e/tart/README.md); `failure` breaks it (404, 401, …). */
export interface StandInImage {
  os: 'linux' | 'darwin';
  cpu?: number;
  memoryMiB?: number;
  diskGB?: number;
  compressedGB?: number;
  failure?: '401' | '403' | '404' | 'network';
}

export interface StandInTartWorkerOptions {
  controllerUrl: string;
  adminToken: string;
  /** The controller's certificate when it serves HTTPS with its own (pinned through the bootstrap token). */
  certificatePem?: string;
  name: string;
  /** TART_HOME of the stand-in: its VMs, image cache and leases. */
  tartHome: string;
  /** The images its registry offers, by reference. */
  images: Record<string, StandInImage>;
  /** More `grove worker run` flags, e.g. `--labels`, `--resources`. */
  extraArgs?: string[];
}

/**
 * Starts `node apps/worker/dist/main.js` with the Tart runtime on the stand-in `tart`, its metrics on a free loopback
 * port, logged in as bootstrap-admin, and waits for its first session with the controller.
 */
export async function startStandInTartWorker(options: StandInTartWorkerOptions): Promise<RunningProcess> {
  const token = encodeBootstrapToken({
    serviceAccountName: BOOTSTRAP_ADMIN,
    serviceAccountToken: options.adminToken,
    certificatePem: options.certificatePem,
  });
  const worker = startNodeProcess(
    [
      WORKER_MAIN,
      options.controllerUrl,
      '--bootstrap-token',
      token,
      '--name',
      options.name,
      '--runtime',
      'tart',
      '--listen-metrics',
      '127.0.0.1:0',
      ...(options.extraArgs ?? []),
    ],
    {
      ...process.env,
      PATH: `${STAND_IN_BIN}${delimiter}${process.env.PATH ?? ''}`,
      TART_HOME: options.tartHome,
      TART_STANDIN_BOOT_DELAY_MS: '50',
      TART_STANDIN_REGISTRY: JSON.stringify({ images: options.images }),
    },
  );
  try {
    await waitFor(`worker ${options.name}'s session`, () => sessionCount(worker) > 0, 20_000);
  } catch (err) {
    await worker.stop();
    throw new Error(`${(err as Error).message}\n${worker.output()}`, { cause: err });
  }
  return worker;
}
