import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort, startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { controllerAnswers } from './controller-process';
import { CONTROLLER_MAIN } from './paths';

/**
 * A controller process that can be restarted on the same port, database and data directory, as an operator's
 * restart would (`startController` owns its database and drops it on stop, so it cannot come back).
 */
export interface RestartableController {
  /** `http://127.0.0.1:PORT`; the same across restarts. */
  url: string;
  adminToken: string;
  /** The pid of the current process. */
  pid(): number;
  /** Everything every process of this controller printed so far. */
  output(): string;
  /** Whether the current process has not exited yet. */
  running(): boolean;
  /**
   * Sends `signal` to the current process, then SIGKILL after `killAfterMs`; resolves with its exit code (null when
   * a signal ended it).
   */
  stopProcess(signal: NodeJS.Signals, killAfterMs?: number): Promise<number | null>;
  /** Starts a new process on the same port, database and data directory, and waits until `GET /v1/` answers. */
  start(): Promise<void>;
  /** Stops the process, drops the database and removes the data directory. */
  stop(): Promise<void>;
}

/** Starts `node apps/controller/dist/main.js` (plain HTTP, loopback) on a database of the test run's Postgres. */
export async function startRestartableController(args: string[] = []): Promise<RestartableController> {
  if (!existsSync(CONTROLLER_MAIN)) {
    throw new Error(`${CONTROLLER_MAIN} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
  }
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'grove-e2e-restartable-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminToken = `e2e-admin-${Math.random().toString(36).slice(2)}`;
  const env = {
    ...process.env,
    GROVE_HOME: dataDir,
    GROVE_DATABASE_URL: database.url,
    GROVE_BOOTSTRAP_ADMIN_TOKEN: adminToken,
  };
  let earlierOutput = '';
  let proc: RunningProcess | undefined;

  const start = async (): Promise<void> => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      throw new Error('the controller is still running');
    }
    if (proc) {
      earlierOutput += proc.output();
    }
    const current = startNodeProcess(
      [
        CONTROLLER_MAIN,
        '--listen',
        `127.0.0.1:${port}`,
        '--listen-grpc',
        '127.0.0.1:0',
        '--data-dir',
        dataDir,
        '--insecure-no-tls',
        ...args,
      ],
      env,
    );
    proc = current;
    const died = current.exited.then((code) => {
      throw new Error(`the controller exited with code ${code} before it answered:\n${current.output()}`);
    });
    died.catch(() => undefined);
    await Promise.race([waitFor(`the controller at ${url}`, () => controllerAnswers(url), 60_000, 100), died]);
  };

  const controller: RestartableController = {
    url,
    adminToken,
    pid: () => {
      if (proc?.child.pid === undefined) {
        throw new Error('the controller process has no pid');
      }
      return proc.child.pid;
    },
    output: () => earlierOutput + (proc?.output() ?? ''),
    running: () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null,
    stopProcess: (signal, killAfterMs) => proc?.stop(signal, killAfterMs) ?? Promise.resolve(null),
    start,
    stop: async () => {
      await proc?.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await controller.stop();
    throw err;
  }
  return controller;
}

/** Resident memory of a Linux process in bytes (`VmRSS` of /proc/PID/status). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) {
    throw new Error(`no VmRSS line in /proc/${pid}/status`);
  }
  return Number(match[1]) * 1024;
}
