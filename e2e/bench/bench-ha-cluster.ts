import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { encodeBootstrapToken } from '@grove/resources';
import { freePort, startNodeProcess, startPostgres, stopPostgres, waitFor, type RunningProcess } from '@grove/testing';
import { Client } from 'pg';
import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, REPO } from './bench-cluster';
import { HAPROXY, haproxyAvailable, haproxyConfig } from './support/haproxy';

/*
 * The benchmark's counterpart of e2e/src/test-support/ha-cluster.ts (same topology, same HAProxy configuration), on a
 * throwaway Postgres cluster instead of the Jest run's: the e2e project is built as a composite project that includes
 * bench/ and tart/ only, and the test-support files locate the built apps relative to their source directory, so the
 * bench cannot import them.
 */

const CONTROLLER_MAIN = join(REPO, 'apps', 'controller', 'dist', 'main.js');
const WORKER_MAIN = join(REPO, 'apps', 'worker', 'dist', 'main.js');
const HOST = '127.0.0.1';

/** One controller process of the cluster, restartable on the same ports and name. */
export interface BenchReplica {
  name: string;
  /** `http://127.0.0.1:PORT`: this replica directly, without the load balancer. */
  url: string;
  /** A client of this replica only. */
  client: GroveClient;
  running(): boolean;
  /** The current process's id (-1 before the first start). */
  pid(): number;
  /** What the current process printed (a restart starts it over). */
  output(): string;
  /** Sends `signal` at once (synchronously) and resolves when the process has exited (SIGKILL after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts the process again and waits until it answers. */
  start(): Promise<void>;
}

/** A synthetic worker process. */
export interface BenchHaWorker {
  name: string;
  process: RunningProcess;
  /** Sessions it has opened so far ("connected to" lines of its output). */
  sessions(): number;
}

export interface BenchHaClusterOptions {
  replicas: number;
  workers: number;
  /** More arguments for every controller (e.g. `--shutdown-grace 2s`). */
  controllerArgs?: string[];
}

export interface BenchHaCluster {
  replicas: BenchReplica[];
  /** The load balancer's REST address (what the workers are given). */
  url: string;
  workers: BenchHaWorker[];
  /** The Postgres major version, for the report. */
  postgres: string;
  /** The replicas' database (to look at it while measuring, e.g. `pg_locks`). */
  databaseUrl: string;
  /** What HAProxy printed (servers going down and up). */
  balancerLog(): string;
  /**
   * The replica holding `worker`'s session according to `GET /v1/workers` on `asked` (default: the first running
   * replica); undefined while it has none that is up.
   */
  holderOf(worker: string, asked?: BenchReplica): Promise<BenchReplica | undefined>;
  stop(): Promise<void>;
}

function clientOf(url: string): GroveClient {
  return new GroveClient({ url, serviceAccountName: BENCH_ADMIN, serviceAccountToken: BENCH_ADMIN_TOKEN });
}

async function answers(client: GroveClient): Promise<boolean> {
  try {
    await client.controllerInfo();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `options.replicas` controllers (`ctl-a`, `ctl-b`, …, plain HTTP) on one database of a new throwaway Postgres
 * cluster, HAProxy in front of their REST and gRPC ports (workers are told the balancer's gRPC port), and synthetic
 * workers (`ha-worker-1`, …, labelled `pin=<name>`, 1000 VM slots) connected through the balancer. Everything lives
 * in a temporary directory that `stop()` removes, after ending every process it started.
 */
export async function startBenchHaCluster(options: BenchHaClusterOptions): Promise<BenchHaCluster> {
  if (!haproxyAvailable()) {
    throw new Error(`${HAPROXY} is missing: install HAProxy (apt-get install -y haproxy; scripts/test.sh does)`);
  }
  const pg = await startPostgres();
  const home = mkdtempSync(join(tmpdir(), 'grove-bench-ha-'));
  const replicaProcesses: Array<() => RunningProcess | undefined> = [];
  const workers: BenchHaWorker[] = [];
  const clients: GroveClient[] = [];
  let balancer: ChildProcess | undefined;
  let balancerLog = '';
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await Promise.all(workers.map((w) => w.process.stop('SIGTERM', 5_000)));
      await Promise.all(replicaProcesses.map((proc) => proc()?.stop('SIGKILL') ?? Promise.resolve(null)));
      if (balancer && balancer.exitCode === null && balancer.signalCode === null) {
        const gone = new Promise((resolve) => balancer?.once('exit', resolve));
        balancer.kill('SIGKILL');
        await gone;
      }
      for (const client of clients) {
        client.close();
      }
      stopPostgres(pg);
      rmSync(home, { recursive: true, force: true });
    })());

  try {
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const databaseUrl = pg.url.replace(/\/postgres$/, '/bench');
    const restPort = await freePort();
    const grpcLbPort = await freePort();
    const url = `http://${HOST}:${restPort}`;

    const replicas: BenchReplica[] = [];
    const servers: { name: string; port: number; grpcPort: number }[] = [];
    for (let i = 0; i < options.replicas; i++) {
      const name = `ctl-${String.fromCharCode(97 + i)}`;
      const port = await freePort();
      const grpcPort = await freePort();
      servers.push({ name, port, grpcPort });
      const replicaUrl = `http://${HOST}:${port}`;
      const args = [
        CONTROLLER_MAIN,
        ...['--listen', `${HOST}:${port}`, '--listen-grpc', `${HOST}:${grpcPort}`],
        ...['--data-dir', join(home, name), '--insecure-no-tls'],
        ...['--replica-name', name, '--advertise-grpc-port', String(grpcLbPort)],
        ...(options.controllerArgs ?? []),
      ];
      const env = {
        ...process.env,
        GROVE_HOME: join(home, name),
        GROVE_DATABASE_URL: databaseUrl,
        GROVE_BOOTSTRAP_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      };
      let proc: RunningProcess | undefined;
      replicaProcesses.push(() => proc);
      const running = () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
      const client = clientOf(replicaUrl);
      clients.push(client);
      replicas.push({
        name,
        url: replicaUrl,
        client,
        running,
        pid: () => proc?.child.pid ?? -1,
        output: () => proc?.output() ?? '',
        stop: (signal = 'SIGTERM') => proc?.stop(signal, 15_000) ?? Promise.resolve(null),
        start: async () => {
          if (running()) {
            throw new Error(`${name} is still running`);
          }
          const current = startNodeProcess(args, env);
          proc = current;
          const died = current.exited.then((code) => {
            throw new Error(`${name} exited with ${code} before it answered:\n${current.output()}`);
          });
          died.catch(() => undefined);
          await Promise.race([waitFor(`${name} at ${replicaUrl}`, () => answers(client), 60_000, 100), died]);
        },
      });
    }
    // One after the other: the first migrates the new database, the others find it migrated.
    for (const replica of replicas) {
      await replica.start();
    }

    const config = join(home, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(restPort, grpcLbPort, servers));
    balancer = spawn(HAPROXY, ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Read, or a full pipe would block HAProxy once it has said enough about servers going down and up.
    balancer.stderr?.setEncoding('utf8').on('data', (chunk: string) => (balancerLog += chunk));
    const lbClient = clientOf(url);
    clients.push(lbClient);
    await waitFor('HAProxy in front of the replicas', () => answers(lbClient), 20_000, 100);

    const token = encodeBootstrapToken({ serviceAccountName: BENCH_ADMIN, serviceAccountToken: BENCH_ADMIN_TOKEN });
    for (let i = 1; i <= options.workers; i++) {
      const name = `ha-worker-${i}`;
      const proc = startNodeProcess([
        WORKER_MAIN,
        url,
        ...['--bootstrap-token', token, '--name', name, '--runtime', 'synthetic'],
        ...['--data-dir', join(home, name), '--labels', `pin=${name}`],
        ...['--resources', 'org.cirruslabs.tart-vms=1000'],
      ]);
      const worker: BenchHaWorker = {
        name,
        process: proc,
        sessions: () => (proc.output().match(/connected to http/g) ?? []).length,
      };
      workers.push(worker);
      await waitFor(`worker ${name}'s first session`, () => worker.sessions() > 0, 30_000, 50);
    }

    return {
      replicas,
      url,
      workers,
      postgres: pg.binDir.split('/').at(-2) ?? '?',
      databaseUrl,
      balancerLog: () => balancerLog,
      holderOf: async (worker, asked) => {
        const through = asked ?? replicas.find((r) => r.running()) ?? replicas[0];
        const found = (await through.client.workers.list()).find((w) => w.name === worker);
        return found?.session?.up ? replicas.find((r) => r.name === found.session?.replica) : undefined;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
