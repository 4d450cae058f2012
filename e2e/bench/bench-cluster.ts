import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { encodeBootstrapToken } from '@grove/resources';
import { freePort, startNodeProcess, startPostgres, stopPostgres, waitFor, type RunningProcess } from '@grove/testing';
import { Client } from 'pg';

export const REPO = join(__dirname, '..', '..', '..');
const CONTROLLER_MAIN = join(REPO, 'apps', 'controller', 'dist', 'main.js');
const WORKER_MAIN = join(REPO, 'apps', 'worker', 'dist', 'main.js');
const TOKEN = 'bench-admin-token';

export interface BenchCluster {
  client: GroveClient;
  /** The Postgres major version the controller runs on, for the report. */
  postgres: string;
  stop(): Promise<void>;
}

/**
 * A controller process on a throwaway Postgres cluster (loopback only) and, optionally, synthetic worker processes,
 * everything in a temporary directory that `stop()` removes.
 */
export async function startBenchCluster(options: { workers?: number } = {}): Promise<BenchCluster> {
  const cluster = await startPostgres();
  const admin = new Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const dataDir = mkdtempSync(join(tmpdir(), 'grove-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const processes: RunningProcess[] = [];
  const stop = async () => {
    for (const proc of processes.reverse()) {
      if ((await proc.stop()) !== 0) {
        process.stderr.write(`process output:\n${proc.output()}`);
      }
    }
    stopPostgres(cluster);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    processes.push(
      startNodeProcess(
        [
          CONTROLLER_MAIN,
          '--insecure-no-tls',
          '--listen',
          `127.0.0.1:${port}`,
          '--listen-grpc',
          '127.0.0.1:0',
          '--data-dir',
          join(dataDir, 'controller'),
        ],
        {
          ...process.env,
          GROVE_DATABASE_URL: cluster.url.replace(/\/postgres$/, '/bench'),
          GROVE_BOOTSTRAP_ADMIN_TOKEN: TOKEN,
        },
      ),
    );
    const client = new GroveClient({ url, serviceAccountName: 'bootstrap-admin', serviceAccountToken: TOKEN });
    await waitFor('controller', () => client.controllerInfo().then(() => true), 60_000, 100);
    const token = encodeBootstrapToken({ serviceAccountName: 'bootstrap-admin', serviceAccountToken: TOKEN });
    for (let i = 1; i <= (options.workers ?? 0); i++) {
      const name = `bench-worker-${i}`;
      const worker = startNodeProcess([
        WORKER_MAIN,
        url,
        '--bootstrap-token',
        token,
        '--name',
        name,
        '--runtime',
        'synthetic',
        '--data-dir',
        join(dataDir, name),
        '--resources',
        'org.cirruslabs.tart-vms=1000',
      ]);
      processes.push(worker);
      await waitFor(`worker ${name}`, () => /connected to /.test(worker.output()), 30_000, 50);
    }
    return { client, postgres: cluster.binDir.split('/').at(-2) ?? '?', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
