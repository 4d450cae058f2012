import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, type RunningProcess } from '@grove/testing';
import { createContext, expectSuccess, runGrove, type GroveResult } from './cli-process';
import { BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './controller-process';
import { startSyntheticWorker } from './synthetic-worker';

/** A controller, one synthetic worker, a CLI home logged in as the admin, and VM `v1` running. */
export interface CliCluster {
  controller: ControllerProcess;
  worker: RunningProcess;
  /** GROVE_HOME of the CLI processes. */
  home: string;
  grove(args: string[], input?: string): Promise<GroveResult>;
  stop(): Promise<void>;
}

/** Starts a CliCluster; `name` tells its temporary directory and worker apart from other suites'. */
export async function startCliCluster(name: string): Promise<CliCluster> {
  const home = mkdtempSync(join(tmpdir(), `grove-e2e-${name}-`));
  const grove = (args: string[], input?: string) => runGrove(args, { home, input });
  let controller: ControllerProcess | undefined;
  let worker: RunningProcess | undefined;
  const stop = async () => {
    await worker?.stop();
    await controller?.stop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    controller = await startController();
    worker = await startSyntheticWorker({
      controllerUrl: controller.url,
      adminToken: controller.adminToken,
      name: `e2e-${name}-1`,
      dataDir: join(home, 'worker'),
    });
    await createContext(home, controller.url, BOOTSTRAP_ADMIN, controller.adminToken);
    expectSuccess(await grove(['create', 'vm', 'v1', '--image', 'any']));
    await waitFor(
      'v1 running',
      async () => {
        const got = await grove(['get', 'vm', 'v1', '-o', 'json']);
        return (JSON.parse(got.stdout) as { status: string }).status === 'running';
      },
      20_000,
      100,
    );
    return { controller, worker, home, grove, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
