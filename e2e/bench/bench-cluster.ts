import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import { encodeBootstrapToken } from '@grove/resources';
import { freePort, startNodeProcess, startPostgres, stopPostgres, waitFor, type RunningProcess } from '@grove/testing';
import { Client } from 'pg';
import { startMirrorDelayProxyThread } from './support/targets';

export const REPO = join(__dirname, '..', '..', '..');
const CONTROLLER_MAIN = join(REPO, 'apps', 'controller', 'dist', 'main.js');
const WORKER_MAIN = join(REPO, 'apps', 'worker', 'dist', 'main.js');
export const CLI_MAIN = join(REPO, 'apps', 'cli', 'dist', 'main.js');
export const BENCH_ADMIN = 'bootstrap-admin';
export const BENCH_ADMIN_TOKEN = 'bench-admin-token';
const HOST = '127.0.0.1';
/** The loopback address the workers reach the controller at when their link is delayed (see workerLinkDelayMs). */
const DELAYED_HOST = '127.0.0.2';

export interface BenchClusterOptions {
  /** Synthetic worker processes to start (`bench-worker-1`, …). */
  workers?: number;
  /**
   * One-way delay in ms on the worker↔controller link. The controller listens on 127.0.0.1 (REST port R, gRPC port G);
   * delay proxies listen on 127.0.0.2:R and 127.0.0.2:G and forward there, and the workers are given
   * http://127.0.0.2:R, so both their REST calls and their gRPC connection (which dials port G on the host of that URL)
   * cross the delay. Users (the client below, the CLI) use http://127.0.0.1:R, undelayed.
   */
  workerLinkDelayMs?: number;
  /** More arguments for the controller (e.g. `--listen-ssh 127.0.0.1:P`). */
  controllerArgs?: string[];
  /**
   * Run the controller with TLS (the certificate it generates in its data directory) instead of
   * `--insecure-no-tls`; the client and the workers pin that certificate (`certificatePem`).
   */
  tls?: boolean;
}

export interface BenchCluster {
  /** The controller's URL for users (undelayed). */
  url: string;
  /** With `tls`: the controller's certificate (PEM), which its clients pin. */
  certificatePem?: string;
  client: GroveClient;
  /** Names of the started workers, all connected. */
  workerNames: string[];
  /** The Postgres major version the controller runs on, for the report. */
  postgres: string;
  /** The controller's database (a superuser connection), for benchmarks that observe or count what it writes. */
  databaseUrl: string;
  /** The controller process (its pid for CPU and memory figures, its log output). */
  controller: RunningProcess;
  stop(): Promise<void>;
}

/**
 * A controller process on a throwaway Postgres cluster (loopback only) and, optionally, synthetic worker processes,
 * everything in a temporary directory that `stop()` removes.
 */
export async function startBenchCluster(options: BenchClusterOptions = {}): Promise<BenchCluster> {
  const cluster = await startPostgres();
  const admin = new Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const dataDir = mkdtempSync(join(tmpdir(), 'grove-bench-'));
  const processes: RunningProcess[] = [];
  const proxies: Array<{ close(): Promise<void> }> = [];
  const stop = async () => {
    for (const proc of processes.reverse()) {
      const code = await proc.stop();
      if (code !== 0) {
        // The tail only: after a tunnel benchmark the output holds an audit line per session.
        const tail = proc.output().split('\n').slice(-20).join('\n');
        const how = code === null ? `ended by ${proc.child.signalCode}` : `exited with ${code}`;
        process.stderr.write(
          `${proc.child.spawnargs.slice(1, 2).join(' ')} ${how}; last lines of its output:\n${tail}\n`,
        );
      }
    }
    await Promise.all(proxies.map((proxy) => proxy.close()));
    stopPostgres(cluster);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const delayMs = options.workerLinkDelayMs ?? 0;
    const scheme = options.tls ? 'https' : 'http';
    let port: number;
    let grpcPort = 0;
    let workerUrl: string;
    if (delayMs > 0) {
      // The proxies first: they pick the ports, and the controller then listens on the same ports of 127.0.0.1.
      const rest = await startMirrorDelayProxyThread({ host: DELAYED_HOST, targetHost: HOST, delayMs });
      proxies.push(rest);
      const grpc = await startMirrorDelayProxyThread({ host: DELAYED_HOST, targetHost: HOST, delayMs });
      proxies.push(grpc);
      port = rest.port;
      grpcPort = grpc.port;
      workerUrl = `${scheme}://${DELAYED_HOST}:${port}`;
    } else {
      port = await freePort();
      workerUrl = `${scheme}://${HOST}:${port}`;
    }
    const url = `${scheme}://${HOST}:${port}`;
    const databaseUrl = cluster.url.replace(/\/postgres$/, '/bench');
    const controller = startNodeProcess(
      [
        CONTROLLER_MAIN,
        ...(options.tls ? [] : ['--insecure-no-tls']),
        '--listen',
        `${HOST}:${port}`,
        '--listen-grpc',
        `${HOST}:${grpcPort}`,
        '--data-dir',
        join(dataDir, 'controller'),
        ...(options.controllerArgs ?? []),
      ],
      {
        ...process.env,
        GROVE_DATABASE_URL: databaseUrl,
        GROVE_BOOTSTRAP_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      },
    );
    processes.push(controller);
    let certificatePem: string | undefined;
    if (options.tls) {
      // Generated at start-up when the controller has no --tls-cert (infra/tls/certificate.ts).
      const certificateFile = join(dataDir, 'controller', 'controller.crt');
      await waitFor(
        'the controller certificate',
        () => existsSync(certificateFile) && readFileSync(certificateFile, 'utf8').includes('END CERTIFICATE'),
        60_000,
        100,
      );
      certificatePem = readFileSync(certificateFile, 'utf8');
    }
    const client = new GroveClient({
      url,
      serviceAccountName: BENCH_ADMIN,
      serviceAccountToken: BENCH_ADMIN_TOKEN,
      certificatePem,
    });
    await waitFor('controller', () => client.controllerInfo().then(() => true), 60_000, 100);
    const info = await client.controllerInfo();
    if (delayMs > 0 && info.grpcPort !== grpcPort) {
      throw new Error(`the controller announces gRPC port ${info.grpcPort}, the delay proxy is on ${grpcPort}`);
    }
    const token = encodeBootstrapToken({
      serviceAccountName: BENCH_ADMIN,
      serviceAccountToken: BENCH_ADMIN_TOKEN,
      certificatePem,
    });
    const workerNames: string[] = [];
    for (let i = 1; i <= (options.workers ?? 0); i++) {
      const name = `bench-worker-${i}`;
      const worker = startNodeProcess([
        WORKER_MAIN,
        workerUrl,
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
      await waitFor(`worker ${name}`, () => worker.output().includes(`connected to ${workerUrl}`), 30_000, 50);
      workerNames.push(name);
    }
    const postgres = cluster.binDir.split('/').at(-2) ?? '?';
    return { url, certificatePem, client, workerNames, postgres, databaseUrl, controller, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
