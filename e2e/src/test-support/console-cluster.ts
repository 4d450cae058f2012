import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroveClient } from '@grove/client';
import type { Role, Vm, VmCreateInput } from '@grove/resources';
import type { RunningProcess } from '@grove/testing';
import { adminClient, BOOTSTRAP_ADMIN, startController, type ControllerProcess } from './controller-process';
import { untilRunning } from './running-vm';
import { startSyntheticWorker } from './synthetic-worker';

/** A service account's sign-in: what the console's sign-in form asks for. */
export interface ConsoleAccount {
  name: string;
  token: string;
}

/** A dev-like cluster for the console's browser tests: a controller and two synthetic workers. */
export interface ConsoleCluster {
  controller: ControllerProcess;
  /** `http://127.0.0.1:PORT`, the controller's API and console origin. */
  url: string;
  /** bootstrap-admin and its token. */
  admin: ConsoleAccount;
  /** A client of the controller as bootstrap-admin. */
  client: GroveClient;
  /** The two workers' names, as the fleet page shows them. */
  workerNames: [string, string];
  workers: RunningProcess[];
  /**
   * Creates VM `name` (image `any`, plus `fields`) and resolves once it runs; 30 s at most, for a loaded CI machine
   * where other suites start VMs too.
   */
  runVm(name: string, fields?: Omit<VmCreateInput, 'name'>): Promise<Vm>;
  /** Creates another service account with `roles` (e.g. `['compute:read']`) and a generated token. */
  createAccount(name: string, roles: Role[]): Promise<ConsoleAccount>;
  /** The console's URL for a hash route, e.g. `consoleUrl('#/vms/v1')` (default: its start page). */
  consoleUrl(route?: string): string;
  /** Stops the workers and the controller, removing their directories; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a controller (fresh database, plain HTTP on a loopback port) and two synthetic workers named
 * `console-NAME-1` and `console-NAME-2`; `name` tells this suite's directories and workers apart from other suites'.
 */
export async function startConsoleCluster(name: string): Promise<ConsoleCluster> {
  if (!/^[a-z0-9-]+$/.test(name)) {
    throw new Error(`console cluster name "${name}" must be lowercase letters, digits and "-"`);
  }
  const home = mkdtempSync(join(tmpdir(), `grove-e2e-console-${name}-`));
  const workers: RunningProcess[] = [];
  let controller: ControllerProcess | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Everything is stopped and removed even when one part fails to stop (a failed test leaves no process behind).
      try {
        await Promise.allSettled(workers.map((w) => w.stop()));
        await controller?.stop();
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    })());
  try {
    controller = await startController();
    const started = controller;
    const workerNames: [string, string] = [`console-${name}-1`, `console-${name}-2`];
    for (const workerName of workerNames) {
      workers.push(
        await startSyntheticWorker({
          controllerUrl: started.url,
          adminToken: started.adminToken,
          name: workerName,
          dataDir: join(home, workerName),
        }),
      );
    }
    const client = adminClient(started);
    return {
      controller: started,
      url: started.url,
      admin: { name: BOOTSTRAP_ADMIN, token: started.adminToken },
      client,
      workerNames,
      workers,
      async runVm(vmName, fields = {}) {
        await client.vms.create({ image: 'any', ...fields, name: vmName });
        return untilRunning(client, vmName, 30_000);
      },
      async createAccount(accountName, roles) {
        const token = randomBytes(18).toString('base64url');
        await client.serviceAccounts.create({ name: accountName, roles, token });
        return { name: accountName, token };
      },
      consoleUrl: (route = '') => `${started.url}/ui/${route}`,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
