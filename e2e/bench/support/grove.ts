import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webSocketStream } from '@grove/client';
import { startNodeProcess, waitFor, type RunningProcess } from '@grove/testing';
import { BENCH_ADMIN, BENCH_ADMIN_TOKEN, CLI_MAIN, startBenchCluster, type BenchCluster } from '../bench-cluster';
import { tcpDial, type Dial } from './measure';
import { dialsTo, type BenchPath } from './paths';

/** Options of the Grove paths. */
export interface GrovePathOptions {
  /** One-way delay in ms on the worker↔controller link (user↔controller stays undelayed). */
  delayMs?: number;
  /** The controller serves TLS (its generated certificate, pinned by the client and the CLI); rows say "(TLS)". */
  tls?: boolean;
}

/** A bench cluster with one synthetic worker, on whose host (this machine) the target services run. */
async function startOneWorkerCluster(options: GrovePathOptions): Promise<{ cluster: BenchCluster; worker: string }> {
  const cluster = await startBenchCluster({ workers: 1, workerLinkDelayMs: options.delayMs, tls: options.tls });
  return { cluster, worker: cluster.workerNames[0] };
}

function clusterNotes(cluster: BenchCluster, options: GrovePathOptions): string[] {
  const link = options.delayMs
    ? `${options.delayMs} ms each way between worker and controller (delay proxies on 127.0.0.2 for its REST and gRPC ` +
      'connections); user↔controller undelayed'
    : 'no added delay';
  const tls = options.tls ? '; TLS (the controller’s generated certificate, pinned) on every connection to it' : '';
  return [`controller (Postgres ${cluster.postgres}) and one synthetic worker on this machine; ${link}${tls}`];
}

/** A row's name, marked when the controller serves TLS. */
function rowName(name: string, options: GrovePathOptions): string {
  return options.tls ? `${name} (TLS)` : name;
}

/**
 * Grove's API as a program uses it: every dial opens `GET /v1/workers/{name}/port-forward?port=P` with
 * `Upgrade: grove-tunnel/1` (Grove's raw tunnel protocol, docs/tunnels.md "Raw byte streams": a new tunnel session
 * whose bytes travel unframed) to the target on the worker host, and gets a plain socket once the worker reached the
 * target. The client keeps one connection to the controller ready, so a session does not wait for TCP and TLS
 * handshakes.
 */
export function groveApiPath(options: GrovePathOptions = {}): BenchPath {
  return {
    name: rowName('grove tunnel (API)', options),
    start: async (targets) => {
      const { cluster, worker } = await startOneWorkerCluster(options);
      cluster.client.keepConnectionReady();
      // Pipelined, as a program that writes first would use it: the dial returns once the request is written, the
      // driver's first bytes follow it, and reading waits for the answer (startPortForwardStream).
      const dial =
        (port: number): Dial =>
        () =>
          Promise.resolve(cluster.client.workers.startPortForwardStream(worker, { port }).socket);
      return {
        ...dialsTo(targets, dial),
        notes: [
          ...clusterNotes(cluster, options),
          'each session is a new raw port-forward (Upgrade: grove-tunnel/1, pipelined: startPortForwardStream) from the ' +
            'driver, one connection kept ready',
        ],
        stop: () => cluster.stop(),
      };
    },
  };
}

/**
 * Grove's API over WebSockets (what older controllers and Orchard offer): every dial opens the same endpoint as a
 * WebSocket. The half-close protocol is asked for, so that ending the user→target direction (the sink's "that was
 * all", the echo sessions' end) leaves the other direction open, as TCP does; `webSocketStream` is the client
 * library's Duplex for it. (`createWebSocketStream` from `ws` closes the whole WebSocket on end(), so the sink's byte
 * count would never come back.)
 */
export function groveWebSocketPath(options: GrovePathOptions = {}): BenchPath {
  return {
    name: rowName('grove tunnel (WebSocket API)', options),
    start: async (targets) => {
      const { cluster, worker } = await startOneWorkerCluster(options);
      const dial =
        (port: number): Dial =>
        async () =>
          webSocketStream(await cluster.client.workers.portForward(worker, { port, halfClose: true }));
      return {
        ...dialsTo(targets, dial),
        notes: [
          ...clusterNotes(cluster, options),
          'each session is a new port-forward WebSocket (half-close protocol) from the driver',
        ],
        stop: () => cluster.stop(),
      };
    },
  };
}

/** The environment of the CLI processes: this process's, minus GROVE_* settings, with GROVE_HOME set. */
function cliEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GROVE_')) {
      env[key] = value;
    }
  }
  return { ...env, GROVE_HOME: home };
}

/** Starts `grove port-forward worker NAME 0:PORT` and resolves with its local port, read from its first line. */
async function startCliForward(
  env: NodeJS.ProcessEnv,
  worker: string,
  port: number,
): Promise<[RunningProcess, number]> {
  const cli = startNodeProcess([CLI_MAIN, 'port-forward', 'worker', worker, `0:${port}`], env);
  let localPort: number | undefined;
  await waitFor(
    `grove port-forward worker ${worker} 0:${port}`,
    () => {
      if (cli.child.exitCode !== null) {
        throw new Error(`grove port-forward exited with ${cli.child.exitCode}: ${cli.output()}`);
      }
      const match = /^Forwarding 127\.0\.0\.1:(\d+) -> /m.exec(cli.output());
      localPort = match ? Number(match[1]) : undefined;
      return localPort !== undefined;
    },
    30_000,
    50,
  ).catch(async (err: unknown) => {
    await cli.stop();
    throw err;
  });
  return [cli, localPort!];
}

/**
 * The user's path: `grove port-forward worker NAME 0:PORT`, one CLI process per target service (a context created with
 * `grove context create` in a temporary GROVE_HOME). Every TCP connection to a CLI's local port gets its own
 * raw port-forward, so this is the API path plus one more Node relay (the CLI) and its TCP hop.
 */
export function groveCliPath(options: GrovePathOptions = {}): BenchPath {
  return {
    name: rowName('grove port-forward (CLI)', options),
    start: async (targets) => {
      const { cluster, worker } = await startOneWorkerCluster(options);
      const home = mkdtempSync(join(tmpdir(), 'grove-bench-cli-'));
      const clis: RunningProcess[] = [];
      const stop = async () => {
        // SIGTERM: the CLI closes its listener and tunnels and exits (as on Ctrl-C).
        await Promise.all(clis.map((cli) => cli.stop()));
        await cluster.stop();
        rmSync(home, { recursive: true, force: true });
      };
      try {
        const env = cliEnv(home);
        const created = spawnSync(
          process.execPath,
          [
            CLI_MAIN,
            'context',
            'create',
            cluster.url,
            '--service-account-name',
            BENCH_ADMIN,
            '--service-account-token',
            BENCH_ADMIN_TOKEN,
            // TLS: pin the certificate the controller presents (it is the one it generated, on loopback).
            ...(options.tls ? ['--no-pki', '--yes'] : []),
          ],
          { env, encoding: 'utf8', input: '', timeout: 30_000 },
        );
        if (created.status !== 0) {
          throw new Error(`grove context create failed (${created.status}): ${created.stderr}${created.stdout}`);
        }
        const localPorts: number[] = [];
        for (const port of [targets.echo, targets.sink, targets.source]) {
          const [cli, localPort] = await startCliForward(env, worker, port);
          clis.push(cli);
          localPorts.push(localPort);
        }
        const [echo, sink, source] = localPorts;
        const ports = { echo, sink, source };
        return {
          ...dialsTo(ports, (port) => tcpDial(port)),
          localPorts: ports,
          notes: [
            ...clusterNotes(cluster, options),
            'one `grove port-forward worker` process per target; each TCP connection to it opens a new raw port-forward ' +
              '(WebSocket only with a controller without the raw protocol)',
          ],
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}
