import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveClient } from '@grove/client';
import {
  createTestDatabase,
  freePort,
  startNodeProcess,
  waitFor,
  type RunningProcess,
  type TestDatabase,
} from '@grove/testing';
import { BOOTSTRAP_ADMIN, controllerAnswers } from './controller-process';
import { HAPROXY, haproxyAvailable, haproxyConfig } from '../../bench/support/haproxy';
import { CONTROLLER_MAIN } from './paths';

/** One controller process of the cluster, restartable on the same ports and name. */
export interface Replica {
  name: string;
  /** `http://127.0.0.1:PORT`: this replica directly, without the load balancer. */
  url: string;
  grpcPort: number;
  sshPort: number;
  /** A client of this replica only. */
  client: GroveClient;
  running(): boolean;
  output(): string;
  pid(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  start(): Promise<void>;
}

/** Controllers on one Postgres database behind HAProxy in TCP mode (REST and gRPC), all on loopback. */
export interface HaCluster {
  replicas: Replica[];
  /** The load balancer's REST address: workers and clients that do not care which replica answers use it. */
  url: string;
  adminToken: string;
  /** A client through the load balancer. */
  client: GroveClient;
  /** The replica holding `worker`'s session according to `GET /v1/workers`. */
  holderOf(worker: string): Promise<Replica | undefined>;
  stop(): Promise<void>;
}

function clientOf(url: string, token: string): GroveClient {
  return new GroveClient({ url, serviceAccountName: BOOTSTRAP_ADMIN, serviceAccountToken: token });
}

/**
 * Starts `count` controllers named `ctl-a`, `ctl-b`, … on one fresh database of the run's Postgres (plain HTTP,
 * SSH gateway on), and HAProxy in front of their REST and gRPC ports. Workers are told the balancer's gRPC port
 * (`--advertise-grpc-port`), so a worker whose replica dies reconnects to another through it.
 */
export async function startHaCluster(count: number, extraArgs: string[] = []): Promise<HaCluster> {
  if (!haproxyAvailable()) {
    throw new Error(`${HAPROXY} is missing: install HAProxy (apt-get install -y haproxy; scripts/test.sh does)`);
  }
  const database: TestDatabase = await createTestDatabase();
  const home = mkdtempSync(join(tmpdir(), 'grove-e2e-ha-'));
  const adminToken = `e2e-admin-${Math.random().toString(36).slice(2)}`;
  const restPort = await freePort();
  const grpcLbPort = await freePort();
  const replicas: Replica[] = [];
  let balancer: ChildProcess | undefined;

  for (let i = 0; i < count; i++) {
    const name = `ctl-${String.fromCharCode(97 + i)}`;
    const port = await freePort();
    const grpcPort = await freePort();
    const sshPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let proc: RunningProcess | undefined;
    let earlier = '';
    const args = [
      CONTROLLER_MAIN,
      ...['--listen', `127.0.0.1:${port}`, '--listen-grpc', `127.0.0.1:${grpcPort}`],
      ...['--listen-ssh', `127.0.0.1:${sshPort}`, '--data-dir', join(home, name), '--insecure-no-tls'],
      ...['--replica-name', name, '--advertise-grpc-port', String(grpcLbPort)],
      ...extraArgs,
    ];
    const env = {
      ...process.env,
      GROVE_HOME: join(home, name),
      GROVE_DATABASE_URL: database.url,
      GROVE_BOOTSTRAP_ADMIN_TOKEN: adminToken,
    };
    const running = () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
    const replica: Replica = {
      name,
      url,
      grpcPort,
      sshPort,
      client: clientOf(url, adminToken),
      running,
      output: () => earlier + (proc?.output() ?? ''),
      pid: () => proc?.child.pid ?? -1,
      stop: (signal = 'SIGTERM') => proc?.stop(signal, 10_000) ?? Promise.resolve(null),
      start: async () => {
        if (running()) {
          throw new Error(`${name} is still running`);
        }
        earlier += proc?.output() ?? '';
        const current = startNodeProcess(args, env);
        proc = current;
        const died = current.exited.then((code) => {
          throw new Error(`${name} exited with code ${code} before it answered:\n${current.output()}`);
        });
        died.catch(() => undefined);
        await Promise.race([waitFor(`${name} at ${url}`, () => controllerAnswers(url), 60_000, 100), died]);
      },
    };
    replicas.push(replica);
  }

  const stop = async () => {
    balancer?.kill('SIGKILL');
    await Promise.all(replicas.map((r) => (r.running() ? r.stop('SIGKILL') : Promise.resolve(null))));
    for (const r of replicas) {
      r.client.close();
    }
    await database.drop();
    rmSync(home, { recursive: true, force: true });
  };

  try {
    // One after the other: the first migrates the new database, the others find it migrated.
    for (const replica of replicas) {
      await replica.start();
    }
    const config = join(home, 'haproxy.cfg');
    writeFileSync(
      config,
      haproxyConfig(
        restPort,
        grpcLbPort,
        replicas.map((r) => ({ name: r.name, port: Number(new URL(r.url).port), grpcPort: r.grpcPort })),
      ),
    );
    balancer = spawn(HAPROXY, ['-f', config, '-db'], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${restPort}`;
    await waitFor('HAProxy in front of the replicas', () => controllerAnswers(url), 20_000, 100);
    const client = clientOf(url, adminToken);
    return {
      replicas,
      url,
      adminToken,
      client,
      holderOf: async (worker) => {
        const asked = replicas.find((r) => r.running()) ?? replicas[0];
        const found = (await asked.client.workers.list()).find((w) => w.name === worker);
        return found?.session?.up ? replicas.find((r) => r.name === found.session?.replica) : undefined;
      },
      stop: async () => {
        client.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
