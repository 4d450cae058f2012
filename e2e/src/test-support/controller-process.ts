import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { createTestDatabase, freePort, startNodeProcess, waitFor, type TestDatabase } from '@grove/testing';
import { CLI_MAIN, CONTROLLER_MAIN } from './paths';

export const BOOTSTRAP_ADMIN = 'bootstrap-admin';

export interface ControllerProcess {
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
  port: number;
  dataDir: string;
  adminToken: string;
  /** Everything the controller printed so far (stdout and stderr). */
  output(): string;
  /**
   * Stops the process (SIGTERM, then SIGKILL after 10 s), drops its database and removes its data directory.
   * Resolves with the process's exit code.
   */
  stop(): Promise<number | null>;
}

export interface StartControllerOptions {
  /** Serve HTTPS with the certificate the controller generates (default: plain HTTP, --insecure-no-tls). */
  tls?: boolean;
  startTimeoutMs?: number;
  /** Start it through `grove controller run` (the CLI spawns the controller) instead of its entry script. */
  viaCli?: boolean;
  /** More controller flags, e.g. `--worker-offline-timeout 4s`. */
  args?: string[];
  /**
   * The database to use, e.g. of a throwaway cluster of the test's own that it restarts; the caller owns it (it is
   * not dropped on stop). Default: a fresh database of the test run's Postgres cluster.
   */
  databaseUrl?: string;
  /** More environment variables for the process (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`), over the test runner's. */
  env?: NodeJS.ProcessEnv;
}

/** A client of the controller logged in as bootstrap-admin with the token the test gave it. */
export function adminClient(controller: { url: string; adminToken: string }): GroveClient {
  return new GroveClient({
    url: controller.url,
    serviceAccountName: BOOTSTRAP_ADMIN,
    serviceAccountToken: controller.adminToken,
  });
}

/** Whether `GET /v1/` gets any HTTP response. The certificate is not checked here: only readiness is. */
export function controllerAnswers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const target = `${url}/v1/`;
    const onResponse = (res: { statusCode?: number; resume(): void }): void => {
      res.resume();
      resolve(res.statusCode !== undefined);
    };
    const req = url.startsWith('https:')
      ? httpsGet(target, { rejectUnauthorized: false, timeout: 2000 }, onResponse)
      : httpGet(target, { timeout: 2000 }, onResponse);
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
  });
}

/**
 * Starts `node apps/controller/dist/main.js` on a free loopback port with a fresh database of the test run's
 * Postgres cluster (or `options.databaseUrl`) and a known bootstrap-admin token, and waits until `GET /v1/` answers.
 */
export async function startController(options: StartControllerOptions = {}): Promise<ControllerProcess> {
  for (const main of [CONTROLLER_MAIN, ...(options.viaCli ? [CLI_MAIN] : [])]) {
    if (!existsSync(main)) {
      throw new Error(`${main} does not exist: build first with "npx tsc -b tsconfig.build.json"`);
    }
  }
  const database: TestDatabase | undefined = options.databaseUrl ? undefined : await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'grove-e2e-controller-'));
  const port = await freePort();
  const adminToken = `e2e-admin-${Math.random().toString(36).slice(2)}`;
  const entry = options.viaCli ? [CLI_MAIN, 'controller', 'run'] : [CONTROLLER_MAIN];
  const args = [...entry, '--listen', `127.0.0.1:${port}`, '--listen-grpc', '127.0.0.1:0', '--data-dir', dataDir];
  if (!options.tls) {
    args.push('--insecure-no-tls');
  }
  args.push(...(options.args ?? []));
  const proc = startNodeProcess(args, {
    ...process.env,
    ...options.env,
    GROVE_HOME: dataDir,
    GROVE_DATABASE_URL: options.databaseUrl ?? database?.url,
    GROVE_BOOTSTRAP_ADMIN_TOKEN: adminToken,
  });
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  let stopped: Promise<number | null> | undefined;
  const stop = (): Promise<number | null> =>
    (stopped ??= (async () => {
      const code = await proc.stop();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    })());

  const died = proc.exited.then((code) => {
    throw new Error(`the controller exited with code ${code} before it answered:\n${proc.output()}`);
  });
  try {
    await Promise.race([
      waitFor(`the controller at ${url}`, () => controllerAnswers(url), options.startTimeoutMs ?? 60_000, 100),
      died,
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  died.catch(() => undefined);
  return { url, port, dataDir, adminToken, output: proc.output, stop };
}
