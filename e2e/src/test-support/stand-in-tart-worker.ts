import { delimiter, join } from 'node:path';
import type { RunningProcess } from '@grove/testing';
import { REPO_ROOT } from './paths';
import { startWorkerProcess, type WorkerLogin } from './synthetic-worker';

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

export interface StandInTartWorkerOptions extends WorkerLogin {
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
export function startStandInTartWorker(options: StandInTartWorkerOptions): Promise<RunningProcess> {
  return startWorkerProcess(
    options,
    ['--runtime', 'tart', '--listen-metrics', '127.0.0.1:0', ...(options.extraArgs ?? [])],
    {
      ...process.env,
      PATH: `${STAND_IN_BIN}${delimiter}${process.env.PATH ?? ''}`,
      TART_HOME: options.tartHome,
      TART_STANDIN_BOOT_DELAY_MS: '50',
      TART_STANDIN_REGISTRY: JSON.stringify({ images: options.images }),
    },
  );
}
